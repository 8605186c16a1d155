"""Values a person edits as one line of text (a setting, a quota) and the server's refusals
placed next to the field they are about. Pure, so the forms of the account and admin screens
and their tests agree on how a list or a mapping is written."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from runway.client import ClientError

TRUE, FALSE = frozenset({"true", "yes", "on"}), frozenset({"false", "no", "off"})
NAME_VALUE = re.compile(r"[\w.-]+\s*=")
"""The start of `name=value, ...`: a mapping, for a field that has no value yet."""


class Unreadable(ValueError):
    """The text cannot be the kind of value the field holds; says what is expected."""


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def as_text(value: Any) -> str:
    """A value as a person edits it: a list as `a, b`, a mapping as `k=v, k2=v2`, anything
    nested as JSON, nothing as an empty line."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(_scalar(v) and not isinstance(v, bool) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict) and all(_scalar(v) for v in value.values()):
        return ", ".join(f"{k}={as_text(v)}" for k, v in value.items())
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def from_text(text: str, original: Any) -> Any:
    """The value of `text` for a field that held `original` (its kind decides how the text is
    read; text starting with `{` or `[` is JSON whatever the kind). Unreadable otherwise."""
    text = text.strip()
    if not text:  # cleared: no value (an empty list for a list: `[]` may mean something)
        return [] if isinstance(original, list) else None
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as error:
            raise Unreadable(f"is not valid JSON: {error}") from None
    if isinstance(original, bool):
        if text.lower() not in TRUE | FALSE:
            raise Unreadable("must be true or false")
        return text.lower() in TRUE
    if isinstance(original, int | float):
        try:
            return type(original)(text)
        except ValueError:
            raise Unreadable(f"must be a number such as {original}") from None
    if isinstance(original, list):
        return [part for part in re.split(r"[,\s]+", text) if part]
    if isinstance(original, dict) or (original is None and NAME_VALUE.match(text)):
        return _mapping(text, original or {})
    return text


def _mapping(text: str, original: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, equals, value = part.partition("=")
        if not equals or not key.strip():
            raise Unreadable(f"'{part}' is not name=value (such as requests.cpu=4)")
        key = key.strip()
        found[key] = from_text(value, original.get(key, ""))
    return found


def changes(
    originals: Mapping[str, Any], texts: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the fields whose text now means another value, with that value; the problem of each
    field whose text cannot be read). Fields left alone are not sent again, even when their
    text would be read back as another value (an empty text: no value)."""
    changed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, text in texts.items():
        original = originals.get(name)
        if text.strip() == as_text(original):  # not edited: never sent again
            continue
        try:
            value = from_text(text, original)
        except Unreadable as error:
            problems[name] = str(error)
            continue
        if value != original:
            changed[name] = value
    return changed, problems


def field_of(path: Any) -> str:
    """The field a problem's path is about: `allowed_domains[1]` and `tls.issuer` are about
    `allowed_domains` and `tls`."""
    return re.split(r"[.\[]", str(path or ""), maxsplit=1)[0]


def placed(error: ClientError, fields: Iterable[str]) -> dict[str, str]:
    """The refusal's problems by field (`{field: "message; message"}`); what is about no field
    of the form (or the refusal's own message when it lists none) under "" to show above it."""
    known = set(fields)
    found: dict[str, list[str]] = {}
    for detail in error.details:
        message = str(detail.get("message") or "")
        field = field_of(detail.get("path"))
        path = str(detail.get("path") or "")
        if field in known:
            shown = message if path == field else f"{path[len(field) :].lstrip('.')}: {message}"
            found.setdefault(field, []).append(shown)
        else:
            found.setdefault("", []).append(f"{path}: {message}" if path else message)
    if not found:
        found[""] = [error.message or error.code]
    return {field: "; ".join(messages) for field, messages in found.items()}
