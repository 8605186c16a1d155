"""The questions of a deployment as the form shows them: which field each takes, how an
answer typed there becomes the value sent, and what is wrong with it before it is sent.

The check is runway.config's own (`check_answer`), so the form refuses exactly what the server
would, inline and before any request. Pure: no widget, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runway.config.answers import AnswerError, check_answer
from runway.config.model import Answer, Input, InputType

SOURCE_NOTE = {
    "answer": "answered",
    "reused": "reused from the last successful deployment",
    "default": "default",
}


def as_input(question: Mapping[str, Any]) -> Input:
    """The question (CONTRACT.md: a deployment's `questions`) as the configuration's Input."""
    try:
        kind = InputType(str(question.get("type") or "string"))
    except ValueError:
        kind = InputType.STRING
    default = question.get("default")
    return Input(
        name=str(question["name"]),
        prompt=str(question.get("prompt") or question["name"]),
        type=kind,
        description=question.get("description"),
        default=default if isinstance(default, str | int | bool) else None,
        choices=tuple(str(c) for c in question.get("choices") or ()),
        pattern=question.get("pattern"),
        generate=question.get("generate"),
    )


def check(question: Mapping[str, Any], value: object) -> tuple[Answer | None, str | None]:
    """(the value to send, None) or (None, what is wrong with it)."""
    try:
        return check_answer(as_input(question), value), None
    except AnswerError as error:
        return None, str(error)


def note(question: Mapping[str, Any]) -> str:
    """What the form says beside a question: where its current answer comes from and which
    steps need it (`default · needed by web, worker`)."""
    parts = []
    source = question.get("source")
    if question.get("answered") and source in SOURCE_NOTE:
        parts.append(SOURCE_NOTE[source])
    elif not question.get("answered"):
        parts.append("not answered")
    needed = question.get("needed_by") or []
    if needed:
        parts.append("needed by " + ", ".join(str(n) for n in needed))
    return " · ".join(parts)


def current_text(question: Mapping[str, Any]) -> str:
    """The text to show in a text field: the current answer of a non-secret input (the API
    never sends a secret's value), else empty."""
    if question.get("type") == "secret":
        return ""
    value = question.get("value")
    if value is None:
        value = question.get("default")
    return "" if value is None else str(value)
