"""Answers checked against their input's definition: type, choices, pattern; secrets never
quoted back."""

from __future__ import annotations

import re

import pytest

from runway.config.answers import ANSWER_MAX, AnswerError, check_answer
from runway.config.model import Input, InputType


def _input(type: InputType = InputType.STRING, **extra: object) -> Input:
    return Input(name="x", prompt="X?", type=type, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "given", "taken"),
    [
        (InputType.STRING, "blog.example.org", "blog.example.org"),
        (InputType.INTEGER, 3, 3),
        (InputType.INTEGER, "42", 42),
        (InputType.INTEGER, 2.0, 2),
        (InputType.BOOLEAN, True, True),
        (InputType.BOOLEAN, "false", False),
        (InputType.SECRET, "s3cret!", "s3cret!"),
    ],
)
def test_answers_of_each_type_are_taken_as_that_type(
    kind: InputType, given: object, taken: object
) -> None:
    assert check_answer(_input(kind), given) == taken
    assert type(check_answer(_input(kind), given)) is type(taken)


@pytest.mark.parametrize(
    ("kind", "given", "said"),
    [
        (InputType.INTEGER, "4x", "expected an integer, got text"),
        (InputType.INTEGER, True, "expected an integer, got a boolean"),
        (InputType.BOOLEAN, "yes", "expected true or false, got text"),
        (InputType.STRING, 5, "expected text, got a number"),
        (InputType.STRING, "", "the answer is empty"),
        (InputType.STRING, None, "expected text, got nothing (null)"),
        (InputType.STRING, ["a"], "expected text, got a list"),
    ],
)
def test_answers_of_the_wrong_type_are_refused_saying_why(
    kind: InputType, given: object, said: str
) -> None:
    with pytest.raises(AnswerError, match=re.escape(said)):
        check_answer(_input(kind), given)


def test_choices_and_patterns_are_checked() -> None:
    size = _input(InputType.CHOICE, choices=("small", "large"))
    assert check_answer(size, "large") == "large"
    with pytest.raises(AnswerError, match=r"'medium' is not one of the choices \(small, large\)"):
        check_answer(size, "medium")
    domain = _input(pattern=r"[a-z.]+\.org")
    assert check_answer(domain, "blog.example.org") == "blog.example.org"
    with pytest.raises(AnswerError, match="does not match the pattern"):
        check_answer(domain, "blog.example.com")


def test_a_secret_answer_is_never_quoted_back() -> None:
    pin = _input(InputType.SECRET, pattern=r"[0-9]{6}")
    with pytest.raises(AnswerError) as raised:
        check_answer(pin, "hunter2")
    assert "hunter2" not in str(raised.value)
    assert "the answer does not match" in str(raised.value)


def test_an_overlong_answer_or_a_slow_pattern_is_refused() -> None:
    with pytest.raises(AnswerError, match="longer than"):
        check_answer(_input(), "a" * (ANSWER_MAX + 1))
    with pytest.raises(AnswerError, match="took over"):
        check_answer(_input(pattern=r"(a|aa)+$"), "a" * 60 + "b")
