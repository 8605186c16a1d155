"""Regular expressions written by users (`inputs.NAME.pattern`): compiled and matched safely.

A pattern such as `(a+)+$` can take Python's `re` minutes on a short answer. The `regex` engine
takes a time limit, so a hostile or unlucky pattern fails with a message instead.
"""

from __future__ import annotations

import functools

import regex

MATCH_SECONDS = 0.1


class PatternError(ValueError):
    """The pattern is not a regular expression, or matching it took too long."""


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """The compiled pattern; PatternError with the engine's reason when it is not valid."""
    try:
        return regex.compile(pattern)
    except (regex.error, OverflowError, ValueError, RecursionError) as error:
        raise PatternError(f"not a valid regular expression: {error}") from None


def matches(pattern: str, text: str) -> bool:
    """Whether the whole of `text` matches; PatternError when the pattern is invalid or slow."""
    compiled = compile_pattern(pattern)
    try:
        return compiled.fullmatch(text, timeout=MATCH_SECONDS) is not None
    except TimeoutError:
        raise PatternError(
            f"matching this pattern took over {MATCH_SECONDS:g} s; simplify it "
            "(nested repetition such as (a+)+ is the usual cause)"
        ) from None
