"""The configuration's errors: every problem of a document, each with where it is."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Path = tuple[str | int, ...]
"""Where a value sits in a document: `("services", "web", "depends_on", 0)`."""


def format_path(path: Path) -> str:
    """`("services", "web", "depends_on", 0)` -> `services.web.depends_on[0]`."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif out:
            out.append(f".{escape_controls(part)}")
        else:
            out.append(escape_controls(part))
    return "".join(out)


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def escape_controls(text: str) -> str:
    """Control characters as escapes (`\\n`): names in messages must not break lines."""
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1], text) if _CONTROLS.search(text) else text


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a configuration: where (`path`, `line`), and what."""

    path: str
    """Path of the value at fault (`services.web.depends_on[0]`); empty for the document."""
    message: str
    """What is wrong, for a person, and where it can, what was probably meant."""
    line: int | None = None
    """1-based line in the YAML source; None for JSON or when there is no single place."""

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"

    def as_dict(self) -> dict[str, object]:
        """The shape of one entry of an API error's `details`."""
        return {"path": self.path, "line": self.line, "message": self.message}


class ConfigError(Exception):
    """A configuration cannot be used; `problems` lists every problem of it, in document order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"invalid configuration ({count} {noun}):\n" + "\n".join(map(str, self.problems))
        )


def located(found: Iterable[tuple[Path, str]], line: Callable[[Path], int | None]) -> ConfigError:
    """A ConfigError from (path, message) pairs, each given its line, in document order."""
    problems = [Problem(format_path(path), message, line(path)) for path, message in found]
    problems.sort(key=lambda p: p.line if p.line is not None else 1 << 62)
    return ConfigError(problems)
