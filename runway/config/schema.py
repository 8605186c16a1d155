"""The JSON Schema of the configuration format, built from the same vocabulary as the validator.

It checks structure (keys, types, names, ranges) so editors and preflight can catch mistakes
before sending; what a schema cannot express (references, cycles, where secrets may go) is left
to the validator and the planner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runway.config import fields
from runway.config.model import FORMAT_VERSION, InputType, ServiceKind
from runway.config.units import DURATION_PATTERN, QUANTITY_PATTERN

Schema = dict[str, Any]

_TEXT: Schema = {"type": "string"}
_WRITTEN: Schema = {
    "type": ["string", "number", "boolean", "null"],
    "description": 'Text; a plain YAML scalar is taken as written (8080 is "8080").',
}
_PORT: Schema = {
    "type": "integer",
    "minimum": fields.PORT_RANGE[0],
    "maximum": fields.PORT_RANGE[1],
}
_QUANTITY: Schema = {"type": ["string", "number"], "pattern": QUANTITY_PATTERN, "minimum": 0}


def _label(limit: int) -> Schema:
    return {"type": "string", "pattern": fields.LABEL_PATTERN, "maxLength": limit}


def _strict(
    keys: Iterable[str], properties: Mapping[str, Schema], required: Iterable[str] = ()
) -> Schema:
    """An object with exactly `keys` (KeyError here when a key has no schema: no silent drift)."""
    schema: Schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {key: properties[key] for key in keys},
    }
    if required := list(required):
        schema["required"] = required
    return schema


def _when(condition: Schema, then: Schema) -> Schema:
    return {"if": condition, "then": then}


def _has(*keys: str) -> Schema:
    return {"required": list(keys)}


def _is(key: str, *values: str) -> Schema:
    return {"required": [key], "properties": {key: {"enum": list(values)}}}


def _input() -> Schema:
    properties: dict[str, Schema] = {
        "prompt": {"type": "string", "minLength": 1, "maxLength": fields.PROMPT_MAX},
        "description": {"type": "string", "maxLength": fields.DESCRIPTION_MAX},
        "type": {"enum": [t.value for t in InputType], "default": InputType.STRING.value},
        "default": {"type": ["string", "integer", "boolean"]},
        "choices": {"type": "array", "items": _TEXT, "minItems": 1, "uniqueItems": True},
        "pattern": {"type": "string", "maxLength": fields.PATTERN_MAX, "format": "regex"},
        "generate": {
            "type": "integer",
            "minimum": fields.GENERATE_RANGE[0],
            "maximum": fields.GENERATE_RANGE[1],
        },
    }
    schema = _strict(fields.INPUT_KEYS, properties, fields.INPUT_REQUIRED)
    schema["allOf"] = [
        _when(_is("type", InputType.CHOICE), _has("choices")),
        _when(_has("choices"), _is("type", InputType.CHOICE)),
        _when(_has("generate"), _is("type", InputType.SECRET)),
        _when(
            _has("pattern"),
            {"not": _is("type", InputType.INTEGER, InputType.BOOLEAN, InputType.CHOICE)},
        ),
        _when(_is("type", InputType.SECRET), {"not": _has("default")}),
        _when(_is("type", InputType.INTEGER), {"properties": {"default": {"type": "integer"}}}),
        _when(_is("type", InputType.BOOLEAN), {"properties": {"default": {"type": "boolean"}}}),
        _when(
            {"not": _is("type", InputType.INTEGER, InputType.BOOLEAN)},
            {"properties": {"default": _TEXT}},
        ),
    ]
    return schema


def _service() -> Schema:
    resource_list = _strict(fields.RESOURCE_KEYS, {"cpu": _QUANTITY, "memory": _QUANTITY})
    volume = _strict(
        fields.VOLUME_KEYS,
        {"mount": {"type": "string", "pattern": fields.MOUNT_PATTERN}, "size": _QUANTITY},
        fields.VOLUME_KEYS,
    )
    properties: dict[str, Schema] = {
        "kind": {"enum": [k.value for k in ServiceKind], "default": ServiceKind.SERVICE.value},
        "image": {
            "type": "string",
            "pattern": fields.IMAGE_OR_REFERENCE_PATTERN,
            "maxLength": fields.IMAGE_MAX,
        },
        "command": {"type": "array", "items": _WRITTEN},
        "args": {"type": "array", "items": _WRITTEN},
        "env": {
            "type": "object",
            "propertyNames": {"pattern": fields.ENV_NAME_PATTERN},
            "additionalProperties": _WRITTEN,
        },
        "ports": {"type": "array", "items": _PORT, "uniqueItems": True},
        "replicas": {"type": "integer", "minimum": 0, "default": 1},
        "depends_on": {"type": "array", "items": _label(fields.SERVICE_MAX), "uniqueItems": True},
        "volumes": {
            "type": "object",
            "propertyNames": _label(fields.VOLUME_MAX),
            "additionalProperties": volume,
        },
        "ready": {
            "oneOf": [
                _strict(
                    fields.READY_HTTP_KEYS,
                    {"http": {"type": "string", "pattern": "^/"}, "port": _PORT},
                    fields.READY_HTTP_KEYS,
                ),
                _strict(fields.READY_TCP_KEYS, {"tcp": _PORT}, fields.READY_TCP_KEYS),
            ]
        },
        "expose": _strict(
            fields.EXPOSE_KEYS,
            {
                "port": _PORT,
                "host": {
                    "type": "string",
                    "pattern": fields.HOST_OR_REFERENCE_PATTERN,
                    "maxLength": fields.HOST_MAX,
                },
            },
            fields.EXPOSE_KEYS,
        ),
        "resources": _strict(
            fields.RESOURCES_KEYS, {"requests": resource_list, "limits": resource_list}
        ),
        "retries": {"type": "integer", "minimum": 0, "maximum": fields.RETRIES_MAX, "default": 0},
        "timeout": {"type": "string", "pattern": DURATION_PATTERN, "default": "10m"},
    }
    schema = _strict(fields.SERVICE_KEYS, properties, fields.SERVICE_REQUIRED)
    job_only = [{"not": _has(key)} for key in fields.JOB_ONLY_KEYS]
    service_only = [{"not": _has(key)} for key in fields.SERVICE_ONLY_KEYS]
    schema["allOf"] = [
        _when(_is("kind", ServiceKind.JOB), {"allOf": service_only}),
        _when({"not": _is("kind", ServiceKind.JOB)}, {"allOf": job_only}),
        _when(
            {"required": ["volumes"], "properties": {"volumes": {"minProperties": 1}}},
            {"properties": {"replicas": {"const": 1}}},
        ),
    ]
    return schema


def config_schema() -> Schema:
    """The JSON Schema (draft 2020-12) of configuration format `runway: 1`."""
    registry = _strict(
        fields.REGISTRY_KEYS, {"username": _TEXT, "password": _TEXT}, fields.REGISTRY_KEYS
    )
    properties: dict[str, Schema] = {
        "runway": {"const": FORMAT_VERSION, "description": "The format version."},
        "app": _label(fields.APP_MAX),
        "inputs": {
            "type": "object",
            "propertyNames": {"pattern": fields.INPUT_NAME_PATTERN, "maxLength": fields.INPUT_MAX},
            "additionalProperties": {"$ref": "#/$defs/input"},
        },
        "registries": {
            "type": "object",
            "propertyNames": {"pattern": fields.REGISTRY_PATTERN, "maxLength": fields.HOST_MAX},
            "additionalProperties": registry,
        },
        "services": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _label(fields.SERVICE_MAX),
            "additionalProperties": {"$ref": "#/$defs/service"},
        },
    }
    schema = _strict(fields.TOP_KEYS, properties, fields.TOP_REQUIRED)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"runway configuration, format {FORMAT_VERSION}",
        **schema,
        "$defs": {"input": _input(), "service": _service()},
    }
