"""Turning a client's object into what a real server would decode: strict checks, pruning, types.

A real API server decodes into Go structs, so fields its schema lacks are dropped (with a warning,
or refused under `fieldValidation=Strict`), values of the wrong type are refused, quantities come
out canonical and a Secret's `stringData` becomes `data`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from runway.simcluster import typed
from runway.simcluster.catalogue import ResourceType
from runway.simcluster.defaults import normalise_quantities
from runway.simcluster.errors import BadRequest, FieldError, Invalid, Object
from runway.simcluster.quantity import QuantityError
from runway.simcluster.schemas import SchemaRegistry

VALIDATIONS = ("Ignore", "Warn", "Strict")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class Decoder:
    """Checks and cleans objects of one simulated cluster against the Kubernetes schemas."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def knows(self, rt: ResourceType) -> bool:
        return self.registry.knows(rt.api_version, rt.kind)

    def unknown(self, rt: ResourceType, obj: Object) -> list[str]:
        if not self.knows(rt):
            return []
        return self.registry.unknown_fields(rt.api_version, rt.kind, obj)

    def decode(
        self, rt: ResourceType, obj: Object, duplicates: list[str], validation: str
    ) -> list[str]:
        """A POST or PUT body: refuse (Strict) or warn about unknown and duplicate fields, then
        drop the unknown ones and check types. Returns the warnings."""
        unknown = self.unknown(rt, obj)
        problems = [f'unknown field "{p}"' for p in unknown]
        problems += [f'duplicate field "{d}"' for d in duplicates]
        if problems and validation == "Strict":
            raise self.undecodable(rt, "strict decoding error: " + ", ".join(problems))
        drop_paths(obj, unknown)
        self.finish(rt, obj)
        return problems if validation == "Warn" else []

    def patched(self, rt: ResourceType, obj: Object, shown: str, validation: str) -> list[str]:
        """An object after a patch: unknown fields are a 422 under Strict (the patch is `shown`)."""
        unknown = self.unknown(rt, obj)
        problems = [f'unknown field "{p}"' for p in unknown]
        if problems and validation == "Strict":
            detail = "strict decoding error: " + ", ".join(problems)
            raise Invalid("", "", "", [FieldError("Invalid", "patch", detail, json.dumps(shown))])
        drop_paths(obj, unknown)
        self.finish(rt, obj)
        return problems if validation == "Warn" else []

    def finish(self, rt: ResourceType, obj: Object, *, typecheck: bool = True) -> None:
        """Type check, canonical quantities, Secret data: what decoding into Go types does."""
        if typecheck and self.knows(rt):
            try:
                typed.check(obj, self.registry.root(rt.api_version, rt.kind))
            except typed.TypingError as error:
                raise self.undecodable(rt, error.text()) from None
        try:
            normalise_quantities(rt.kind, obj)
        except QuantityError as error:
            raise self.undecodable(rt, str(error)) from None
        if rt.kind == "Secret":
            _secret_data(self, rt, obj)

    def undecodable(self, rt: ResourceType, why: str) -> BadRequest:
        return undecodable(rt, why)


def undecodable(rt: ResourceType, why: str) -> BadRequest:
    """What a real server says about a body it cannot decode into the kind's Go type."""
    return BadRequest(
        f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {why}'
    )


def _secret_data(decoder: Decoder, rt: ResourceType, obj: Object) -> None:
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        return
    for value in (data or {}).values():
        if not isinstance(value, str):
            continue
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            where = _bad_byte(value)
            raise decoder.undecodable(rt, f"illegal base64 data at input byte {where}") from None
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        merged = dict(data or {})
        for key, value in string_data.items():
            merged[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = merged


def _bad_byte(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for index, char in enumerate(value):
        if char not in alphabet and not (char == "=" and index >= len(value) - 2):
            return index
    return len(value) - len(value) % 4


def drop_paths(obj: Object, paths: list[str]) -> None:
    """Remove fields named like `spec.template.spec.containers[0].bogus` (deepest first)."""
    for path in sorted(paths, key=len, reverse=True):
        parts: list[str | int] = [
            name if name else int(index) for name, index in _PATH_PART.findall(path)
        ]
        node: Any = obj
        for part in parts[:-1]:
            if isinstance(part, int):
                node = node[part] if isinstance(node, list) and part < len(node) else None
            else:
                node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(str(parts[-1]), None)


def object_body(rt: ResourceType, value: Any) -> Object:
    """The object a body decodes to, with the apiVersion and kind the URL says."""
    if not isinstance(value, dict):
        raise BadRequest(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{_json_type(value)} into Go value of type struct {{ APIVersion string "
            '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
        )
    api_version, kind = value.get("apiVersion"), value.get("kind")
    if api_version and api_version != rt.api_version:
        raise BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version})"
        )
    if kind and kind != rt.kind:
        raise BadRequest(
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise undecodable(rt, "metadata must be an object")
    return {"kind": rt.kind, "apiVersion": rt.api_version, **value, "metadata": metadata or {}}


def place(rt: ResourceType, obj: Object, namespace: str, name: str | None) -> None:
    """Check the object's namespace and name against the URL's."""
    metadata = obj["metadata"]
    if rt.namespaced:
        if metadata.get("namespace") and metadata["namespace"] != namespace:
            raise BadRequest(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    if name is not None:
        if metadata.get("name") and metadata["name"] != name:
            raise BadRequest(
                f"the name of the object ({metadata['name']}) does not match the name on "
                f"the URL ({name})"
            )
        metadata["name"] = name


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null"
