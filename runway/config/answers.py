"""Answers to inputs, checked against the input's definition: its type, choices and pattern.

The same check serves an answer a person gives (`POST .../inputs`: a problem is a 422 naming the
input) and an answer reused from the app's last successful deployment (a problem there means the
definition changed, and the input is asked again). Pure, like the rest of runway.config.
"""

from __future__ import annotations

from runway.config.model import Answer, Input, InputType
from runway.config.patterns import PatternError, matches

ANSWER_MAX = 64 * 1024
"""Characters an answer may hold: far beyond a password or domain, short of abuse."""


class AnswerError(ValueError):
    """An answer the input does not take; the message says why, never quoting a secret."""


def check_answer(spec: Input, value: object) -> Answer:
    """`value` as the input's answer (an integer for `integer`, a boolean for `boolean`, text
    otherwise); AnswerError saying what is wrong. A secret's value is never quoted back."""
    if spec.type is InputType.INTEGER:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and _is_integer(value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise AnswerError(f"expected an integer, got {_describe(value)}")
        return value
    if spec.type is InputType.BOOLEAN:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise AnswerError(f"expected true or false, got {_describe(value)}")
        return value
    if not isinstance(value, str):
        raise AnswerError(f"expected text, got {_describe(value)}")
    shown = "the answer" if spec.secret else repr(value)
    if not value:
        raise AnswerError("the answer is empty")
    if len(value) > ANSWER_MAX:
        raise AnswerError(f"the answer is longer than {ANSWER_MAX} characters")
    if "\x00" in value:
        raise AnswerError("the answer contains a NUL character")
    if spec.type is InputType.CHOICE and spec.choices and value not in spec.choices:
        raise AnswerError(f"{shown} is not one of the choices ({', '.join(spec.choices)})")
    if spec.pattern is not None:
        try:
            matched = matches(spec.pattern, value)
        except PatternError as error:
            raise AnswerError(f"the input's pattern cannot be used: {error}") from None
        if not matched:
            raise AnswerError(f"{shown} does not match the pattern {spec.pattern!r}")
    return value


def _is_integer(text: str) -> bool:
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isascii() and digits.isdigit() and len(digits) <= 30


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
