"""References inside configuration strings: `${{ inputs.NAME }}`, `${{ services.NAME.host }}`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

OPEN = "${{"
CLOSE = "}}"
_INPUT = re.compile(r"inputs\.([a-z_][a-z0-9_]*)")
_SERVICE = re.compile(r"services\.([a-z][a-z0-9-]*)\.([a-z_]+)")

ServiceAttribute = Literal["host", "url"]


@dataclass(frozen=True, slots=True)
class InputRef:
    """`${{ inputs.NAME }}`: the answer to an input."""

    name: str


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """`${{ services.NAME.host }}` or `.url`: where another service is reached in the cluster."""

    service: str
    attribute: ServiceAttribute


Reference = InputRef | ServiceRef
Part = str | Reference


class TemplateError(ValueError):
    """A string holds a `${{` that is not a well-formed reference; the message says which."""


def parse(text: str) -> tuple[Part, ...]:
    """Split a string into literal text and references, in order (TemplateError when malformed).

    One left-to-right scan with `str.find`: linear in the length of the text, whatever it holds.
    """
    if OPEN not in text:
        return (text,) if text else ()
    parts: list[Part] = []
    position = 0
    while (start := text.find(OPEN, position)) != -1:
        if start > position:
            parts.append(text[position:start])
        end = text.find(CLOSE, start + len(OPEN))
        inner = text[start + len(OPEN) : end] if end != -1 else ""
        if end == -1 or OPEN in inner:
            raise TemplateError(
                f"unclosed reference at '{_excerpt(text[start:])}'; close it with '}}}}'"
            )
        parts.append(_reference(inner.strip()))
        position = end + len(CLOSE)
    if position < len(text):
        parts.append(text[position:])
    return tuple(parts)


def references(text: str) -> tuple[Reference, ...]:
    """The references of a string, in order (raises TemplateError like `parse`)."""
    return tuple(part for part in parse(text) if not isinstance(part, str))


def _reference(expression: str) -> Reference:
    if match := _INPUT.fullmatch(expression):
        return InputRef(match.group(1))
    if match := _SERVICE.fullmatch(expression):
        service, attribute = match.groups()
        if attribute == "host":
            return ServiceRef(service, "host")
        if attribute == "url":
            return ServiceRef(service, "url")
        raise TemplateError(
            f"unknown reference '{expression}'; a service offers "
            f"services.{service}.host and services.{service}.url"
        )
    raise TemplateError(
        f"unknown reference '{expression}'; "
        "write inputs.NAME, services.NAME.host or services.NAME.url"
    )


def _excerpt(text: str) -> str:
    return text[:30] + ("..." if len(text) > 30 else "")
