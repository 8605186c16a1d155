"""Reading untrusted data one value at a time, collecting every problem instead of stopping."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from runway.config import fields, template
from runway.config.errors import (
    ConfigError,
    Path,
    Problem,
    escape_controls,
    format_path,
    located,
)
from runway.config.references import Allowed
from runway.config.source import MAX_PROBLEMS, Document
from runway.config.suggest import did_you_mean

Member = TypeVar("Member", bound=StrEnum)
Item = TypeVar("Item")


HINTS = 100
"""How many problems get a did-you-mean."""


class TooManyProblems(Exception):
    """Raised by Checker.problem once MAX_PROBLEMS are collected; the document is refused."""


def quoted(text: str) -> str:
    """`'text'`, with control characters written as escapes so a message stays on its line."""
    return "'" + escape_controls(text) + "'"


def describe(value: object) -> str:
    """How a value of the wrong type is named to a person: `the number 2`, `a list`."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {quoted(value)}" if len(value) <= 40 else "a long text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class Checker:
    """Collects problems with their paths and lines; the typed readers return None when the value
    is unusable, after recording why."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.problems: list[tuple[Path, str]] = []
        self._hints = 0
        self.truncated = False
        self.uses: list[tuple[Path, str, Allowed]] = []
        """Every well-formed string with references, and what they may name: checked once all
        names are known, whether or not the rest of its service is valid."""

    def problem(self, path: Path, message: str) -> None:
        self.problems.append((path, message))
        if len(self.problems) >= MAX_PROBLEMS:
            # A document this wrong is refused; reading on would only cost time.
            self.truncated = True
            raise TooManyProblems

    def hint(self, word: str, candidates: Iterable[str]) -> str:
        """A did-you-mean for the first problems only: each hint compares `word` with every
        candidate, and thousands of misspellings of thousands of names would take minutes."""
        if self._hints >= HINTS:
            return ""
        self._hints += 1
        return did_you_mean(word, candidates)

    def raise_if_any(self) -> None:
        """Raise ConfigError with every problem, the loader's included, in document order (by
        line, then as found). What sits where the loader already found a problem (the value of a
        duplicate key, an alias) is not reported again."""
        loaded = self.document.problems
        if not self.problems and not loaded:
            return
        spots = [problem.path for problem in loaded]
        own = [
            (path, message)
            for path, message in self.problems
            if not any(_within(format_path(path), spot) for spot in spots)
        ]
        found = sorted((*loaded, *located(own, self.document.line).problems), key=_line_order)
        if self.truncated:
            found.append(Problem("", f"too many problems; stopped after {MAX_PROBLEMS}"))
        raise ConfigError(found)

    # -- shapes -------------------------------------------------------------------------------

    def mapping(self, path: Path, value: object, what: str = "a mapping") -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(path, f"expected {what}, got {describe(value)}")
        return None

    def keys(
        self,
        path: Path,
        mapping: Mapping[str, object],
        allowed: Iterable[str],
        required: Iterable[str] = (),
        what: str = "field",
    ) -> None:
        """Unknown keys are errors (with a did-you-mean); missing required ones too."""
        allowed = tuple(allowed)
        for key in mapping:
            if key not in allowed:
                hint = self.hint(key, allowed) or f"; expected one of {', '.join(allowed)}"
                self.problem((*path, key), f"unknown {what} '{key}'{hint}")
        for key in required:
            if key not in mapping:
                self.problem(path, f"missing required field '{key}'")

    def sequence(self, path: Path, value: object, what: str = "a list") -> list[Any] | None:
        if isinstance(value, list):
            return value
        self.problem(path, f"expected {what}, got {describe(value)}")
        return None

    # -- scalars ------------------------------------------------------------------------------

    def text(self, path: Path, value: object, *, references: Allowed = Allowed.NONE) -> str | None:
        """A string whose `${{ }}` references are well formed, and absent where none are allowed."""
        if not isinstance(value, str):
            hint = "; quote it if you mean text" if path in self.document.texts else ""
            self.problem(path, f"expected text, got {describe(value)}{hint}")
            return None
        return self._references(path, value, references)

    def written_text(
        self, path: Path, value: object, *, references: Allowed = Allowed.NONE
    ) -> str | None:
        """A string where a plain scalar counts as the text written (`PORT: 8080` is `"8080"`)."""
        if isinstance(value, str):
            return self._references(path, value, references)
        written = self.document.texts.get(path)
        if written is not None:
            return written
        if value is None:  # JSON's null, as YAML's empty value
            return ""
        if isinstance(value, bool):  # JSON's true and false
            return "true" if value else "false"
        if isinstance(value, int | float):  # a JSON number
            return str(value)
        self.problem(path, f"expected text, got {describe(value)}")
        return None

    def _references(self, path: Path, value: str, allowed: Allowed) -> str | None:
        if template.OPEN not in value:
            return value
        if allowed is Allowed.NONE:
            self.problem(path, "references (${{ ... }}) are not allowed here")
            return None
        try:
            template.parse(value)
        except template.TemplateError as error:
            self.problem(path, str(error))
            return None
        self.uses.append((path, value, allowed))
        return value

    def member(self, path: Path, value: object, kind: type[Member], what: str) -> Member | None:
        """One of an enumeration's values (`what` names it: "kind", "input type")."""
        text = self.text(path, value)
        if text is None:
            return None
        try:
            return kind(text)
        except ValueError:
            names = [member.value for member in kind]
            hint = self.hint(text, names) or f"; expected one of {', '.join(names)}"
            self.problem(path, f"unknown {what} '{text}'{hint}")
            return None

    def unique(
        self,
        path: Path,
        items: Iterable[object],
        read: Callable[[Path, object], Item | None],
        shown: Callable[[Item], str] = lambda value: f"'{value}'",
    ) -> list[Item]:
        """The items of a list read one by one, each at most once (`'x' is listed twice`)."""
        found: list[Item] = []
        for index, item in enumerate(items):
            value = read((*path, index), item)
            if value is not None and value in found:
                self.problem((*path, index), f"{shown(value)} is listed twice")
            elif value is not None:
                found.append(value)
        return found

    def integer(
        self, path: Path, value: object, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 2.0 is 2 (JSON Schema says so too)
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(path, f"expected {_int_range(minimum, maximum)}, got {describe(value)}")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.problem(path, f"expected {_int_range(minimum, maximum)}, got {value}")
            return None
        return value

    def name(self, path: Path, value: str, pattern: re.Pattern[str], limit: int, rule: str) -> bool:
        """Names follow `rule` (a phrase for people) and are at most `limit` characters long."""
        if not pattern.fullmatch(value):
            self.problem(path, f"{quoted(value)} is not {rule}")
            return False
        if len(value) > limit:
            self.problem(
                path, f"{quoted(value)} is {len(value)} characters long; the limit is {limit}"
            )
            return False
        return True

    def label(self, path: Path, value: str, limit: int) -> bool:
        """A DNS label that starts with a letter, at most `limit` long (apps, services, volumes)."""
        return self.name(path, value, fields.LABEL, limit, fields.LABEL_RULE)

    def bounded(self, path: Path, value: str | None, limit: int) -> str | None:
        if value is not None and len(value) > limit:
            self.problem(path, f"is {len(value)} characters long; the limit is {limit}")
            return None
        return value


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    return "an integer"


def _within(path: str, spot: str) -> bool:
    """Whether `path` is `spot` or lies inside it (`a.b[0]` is inside `a.b`, `a.bc` is not)."""
    return path == spot or (path.startswith(spot) and path[len(spot)] in ".[") or not spot


def _line_order(problem: Problem) -> int:
    return problem.line if problem.line is not None else 1 << 62
