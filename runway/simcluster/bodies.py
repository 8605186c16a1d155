"""Decoding what clients send: bodies (size limit, duplicate keys), query values, content types."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from runway.simcluster.errors import BadRequest, Object, RequestTooLarge

MAX_BODY = 3 * 1024 * 1024  # what a real API server accepts (3 MiB)

JSON = "application/json"
YAML = "application/yaml"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH, STRATEGIC_PATCH)


def too_large() -> RequestTooLarge:
    return RequestTooLarge(f"Request entity too large: limit is {MAX_BODY}")


@dataclass
class Decoded:
    """A decoded JSON body and the duplicate keys it had (paths such as `metadata.name`)."""

    value: Any
    duplicates: list[str] = field(default_factory=list)


class _Duplicates(dict[str, Any]):
    """A JSON object that remembers keys given twice (Go keeps the last, as this does)."""

    repeated: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Duplicates:
    obj = _Duplicates()
    obj.repeated = []
    for key, value in pairs:
        if key in obj:
            obj.repeated.append(key)
        obj[key] = value
    return obj


def decode_json(raw: bytes) -> Decoded:
    """Parse a JSON body; BadRequest (never a 500) for anything malformed."""
    try:
        value = json.loads(raw, object_pairs_hook=_pairs)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(
            f"couldn't get version/kind; json parse error: {_describe(error)}"
        ) from None
    except RecursionError:
        raise BadRequest(
            "couldn't get version/kind; json parse error: exceeded max depth"
        ) from None
    duplicates: list[str] = []
    plain = _strip(value, "", duplicates)
    return Decoded(plain, duplicates)


def _strip(value: Any, path: str, duplicates: list[str]) -> Any:
    if isinstance(value, _Duplicates):
        duplicates.extend(f"{path}{key}" for key in value.repeated)
        return {k: _strip(v, f"{path}{k}.", duplicates) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip(v, f"{path[:-1]}[{i}].", duplicates) for i, v in enumerate(value)]
    return value


def _describe(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} (line {error.lineno}, column {error.colno})"
    return "invalid UTF-8"


def decode_yaml(raw: bytes) -> Any:
    """An apply body: JSON, or YAML for clients that send it (kubectl may)."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    try:
        # Aliases are refused before anything walks the data: an alias bomb loads in
        # milliseconds and then takes minutes to walk.
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(raw, Loader=yaml.CSafeLoader)):
            raise BadRequest("error decoding YAML: aliases are not allowed")
        return yaml.load(raw, Loader=yaml.CSafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
        raise BadRequest(f"error decoding YAML: {error}") from None


def query_bool(params: Mapping[str, str], name: str) -> bool:
    """A boolean parameter as apimachinery converts it: only `0` and `false` (any case) are false.

    A real server never refuses one: `watch=True`, `watch=1` and even `watch=yes` all watch.
    """
    value = params.get(name)
    if value is None:
        return False
    return not (value == "0" or value.lower() == "false")


def query_int(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    # What Go's strconv.ParseInt takes: ASCII digits with an optional sign, nothing else.
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise BadRequest(f'strconv.ParseInt: parsing "{value}": invalid syntax')
    return int(value)


def media_type(content_type: str | None) -> str:
    return (content_type or JSON).split(";", 1)[0].strip().lower()


def encode(obj: Object | list[Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
