"""A configuration's text (YAML or JSON) made into plain data, safely and fast.

YAML is read from the parser's events, never through a loader's construct step: that is where
aliases expand, tags build objects, duplicate keys vanish and YAML 1.1 turns `yes` into True. Events
also give each node's line, and are about three times faster than `CSafeLoader` building the data.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from runway.config.errors import ConfigError, Path, Problem, format_path

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_PROBLEMS = 1000

_MIB = 1024 * 1024
_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
_EMPTY = "the configuration is empty"


@dataclass(frozen=True, slots=True)
class Document:
    """A configuration read into plain data, with where each value was written."""

    data: object
    """dicts with str keys, lists, str, int, float, bool and None."""
    lines: Mapping[Path, int]
    """The 1-based line of every node (for a mapping's entry, its key's line); empty for JSON."""
    texts: Mapping[Path, str]
    """Each plain scalar that became a non-string, as written: `1.10` stays readable as "1.10"."""
    format: Literal["yaml", "json"]
    problems: tuple[Problem, ...] = ()
    """What is wrong but did not stop the reading (duplicate keys, tags, anchors and aliases):
    the validator reports these together with its own."""

    def line(self, path: Path) -> int | None:
        """The line of `path`, else of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None


def load(source: bytes | str, *, format: Literal["yaml", "json"] | None = None) -> Document:
    """Read a configuration; `format=None` takes JSON when it parses as a JSON object, else YAML.

    Raises ConfigError with every problem found, each with its path and (in YAML) its line.
    """
    text = _decode(source)
    if format == "json" or (format is None and text.lstrip().startswith("{")):
        try:
            return _load_json(text)
        except (ValueError, RecursionError) as error:
            refusal = ConfigError([_json_problem(error)])
            if format == "json":
                raise refusal from None
        # Not JSON after all? A YAML flow mapping starts with `{` too. If it is not YAML either,
        # the JSON parser's complaint is the one that fits what the person wrote.
        try:
            return _load_yaml(text)
        except ConfigError:
            raise refusal from None
    return _load_yaml(text)


def _json_problem(error: ValueError | RecursionError) -> Problem:
    if isinstance(error, json.JSONDecodeError):
        return Problem("", f"not valid JSON: {error.msg}", error.lineno)
    if isinstance(error, RecursionError):
        return Problem("", _TOO_DEEP)
    # int() refuses numbers past 4,300 digits, with advice meant for Python programmers.
    return Problem("", "not valid JSON: a number has more than 4,300 digits")


def _decode(source: bytes | str) -> str:
    if isinstance(source, str):
        # One path for both: a lone surrogate becomes bytes that strict decoding refuses below.
        source = source.encode("utf-8", "surrogatepass")
    size = len(source)
    if size > MAX_BYTES:  # refused before anything reads it
        shown = f"{size / _MIB:.1f} MiB"
        if shown == f"{MAX_BYTES / _MIB:.1f} MiB":  # 1 MiB + 1 byte must not read "1.0 MiB"
            shown = f"{size:,} bytes"
        raise ConfigError([Problem("", f"the configuration is {shown}; the limit is 1 MiB")])
    if source.startswith((b"\xff\xfe", b"\xfe\xff")):
        message = "not UTF-8 text (it starts with a UTF-16 byte order mark)"
        raise ConfigError([Problem("", message, 1)])
    try:
        return source.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        at = error.start
        message = f"not UTF-8 text (invalid byte 0x{source[at]:02x} at offset {at})"
        raise ConfigError([Problem("", message, source.count(b"\n", 0, at) + 1)]) from None


class _TooMany(Exception):
    """Raised once MAX_PROBLEMS problems are collected: the rest would not be read anyway."""


def _add(problems: list[Problem], problem: Problem) -> None:
    problems.append(problem)
    if len(problems) >= MAX_PROBLEMS:
        problems.append(Problem("", f"too many problems; stopped after {MAX_PROBLEMS}"))
        raise _TooMany


# --- JSON ---------------------------------------------------------------------------------------


# json's hooks run bottom-up, without a path: they mark what is wrong, and a walk of the whole tree
# places it. The marks never escape: a tree holding one is refused.


class _NonFinite(str):
    """NaN or Infinity, as written."""


class _Duplicated(dict[str, object]):
    """An object with duplicate keys; `twice` lists each key once per repetition."""

    twice: list[str]


def _pairs(items: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(items)
    if len(result) == len(items):
        return result
    marked = _Duplicated(result)
    marked.twice = [k for k, n in Counter(k for k, _ in items).items() for _ in range(n - 1)]
    return marked


def _load_json(text: str) -> Document:
    """Raises ValueError or RecursionError if `text` is not JSON, ConfigError if it is bad JSON."""
    if not text.strip():
        raise ConfigError([Problem("", _EMPTY)])
    data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_NonFinite)
    problems: list[Problem] = []
    todo: list[tuple[Path, object]] = [((), data)]
    deep = False
    with contextlib.suppress(_TooMany):
        while todo:
            path, value = todo.pop()
            if isinstance(value, _NonFinite):
                _add(problems, Problem(format_path(path), f"{value} is not valid JSON"))
            elif isinstance(value, dict | list):
                if len(path) >= MAX_DEPTH:
                    if not deep:
                        deep = True
                        _add(problems, Problem(format_path(path), _TOO_DEEP))
                    continue
                for key in value.twice if isinstance(value, _Duplicated) else ():
                    _add(problems, Problem(format_path((*path, key)), f"duplicate key {key!r}"))
                items = value.items() if isinstance(value, dict) else enumerate(value)
                todo.extend(reversed([((*path, k), v) for k, v in items]))  # in document order
    if not problems and data is None:
        problems.append(Problem("", _EMPTY))
    if problems:
        raise ConfigError(problems)
    return Document(data, MappingProxyType({}), MappingProxyType({}), "json")


# --- YAML ---------------------------------------------------------------------------------------

_CONSTANTS: dict[str, object] = {
    **dict.fromkeys(["", "~", "null", "Null", "NULL"]),
    **dict.fromkeys(["true", "True", "TRUE"], True),
    **dict.fromkeys(["false", "False", "FALSE"], False),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], float("inf")),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], float("-inf")),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], float("nan")),
}
# The YAML 1.2 core schema: decimal ints (leading zeros too), 0o and 0x ints, then floats.
_NUMBER = re.compile(
    r"(?P<dec>[-+]?[0-9]+)|0o(?P<oct>[0-7]+)|0x(?P<hex>[0-9a-fA-F]+)"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
)
_BASES = {"dec": 10, "oct": 8, "hex": 16}
# Only a plain scalar starting with one of these can be anything but a string.
_MAYBE = frozenset("0123456789+-.~nNtTfF")


def _resolve(text: str) -> object:
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    match = _NUMBER.fullmatch(text)
    if match is None:
        return text
    if match.lastgroup is None:  # the float alternative has no group
        return float(text)
    try:
        return int(match[match.lastgroup], _BASES[match.lastgroup])
    except ValueError:  # over Python's 4300-digit limit: no sensible number, keep the text
        return text


def _skip(events: Iterator[Event], first: Event) -> None:
    """Consume the rest of the node that `first` starts."""
    if type(first) is not MappingStartEvent and type(first) is not SequenceStartEvent:
        return
    depth = 1
    for event in events:
        kind = type(event)
        if kind is MappingStartEvent or kind is SequenceStartEvent:
            depth += 1
        elif (kind is MappingEndEvent or kind is SequenceEndEvent) and (depth := depth - 1) == 0:
            return


def _load_yaml(text: str) -> Document:
    problems: list[Problem] = []
    lines: dict[Path, int] = {}
    texts: dict[Path, str] = {}
    root: object = None
    # A fatal problem leaves no data worth validating; the others (duplicate keys, tags,
    # anchors) are reported together with what the validator finds.
    fatal = True
    try:
        try:
            root, fatal = _build(text, problems, lines, texts)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            if mark and mark.line >= text.count("\n") + (not text.endswith("\n")):
                # At the very end, after the last line: where the unclosed thing began says more.
                mark = error.context_mark or mark
            said = " ".join(part for part in (error.problem, error.context) if part)
            _add(problems, Problem("", f"not valid YAML: {said}", mark.line + 1 if mark else None))
        except yaml.reader.ReaderError as error:
            char = error.character if isinstance(error.character, int) else ord(error.character)
            # libyaml's position counts bytes, the pure reader's characters: both stop at the
            # first such character, so find it instead.
            line = text.count("\n", 0, max(text.find(chr(char)), 0)) + 1
            _add(problems, Problem("", f"not valid YAML: {error.reason} (#x{char:04X})", line))
    except _TooMany:
        pass
    if not problems and root is None:
        problems.append(Problem("", _EMPTY))
    if problems and (fatal or root is None):
        raise ConfigError(problems)
    return Document(root, MappingProxyType(lines), MappingProxyType(texts), "yaml", tuple(problems))


def _build(
    text: str, problems: list[Problem], lines: dict[Path, int], texts: dict[Path, str]
) -> tuple[object, bool]:
    """The data of the stream's one document (None if empty), and whether a problem found on
    the way leaves it unusable (a second document, nesting too deep); problems go to
    `problems`."""
    root: object = None
    documents = 0
    deep = False
    # The collection being filled (`mapping` or `sequence`) and its path; in a mapping, whether
    # a key is wanted, else the waiting key, its line, and whether it was a duplicate. The
    # enclosing collections wait on `stack`, whose length is the depth.
    mapping: dict[str, object] | None = None
    sequence: list[object] | None = None
    base: Path = ()
    want_key = True
    key = ""
    key_line = 0
    duplicate = False
    stack: list[tuple[dict[str, object] | None, list[object] | None, Path]] = []
    events = iter(yaml.parse(text, Loader=_Loader))
    for event in events:
        if type(event) is MappingEndEvent or type(event) is SequenceEndEvent:
            mapping, sequence, base = stack.pop()
            want_key = True
            continue
        if not isinstance(event, NodeEvent):
            if type(event) is DocumentStartEvent and (documents := documents + 1) > 1:
                assert event.end_mark is not None
                line = event.end_mark.line + 1  # the `---` itself, below any directives
                message = f"only one document is allowed; remove the '---' at line {line}"
                _add(problems, Problem("", message, line))
                return root, True
            continue
        assert event.start_mark is not None  # the parser marks every event
        line = event.start_mark.line + 1
        if mapping is not None and want_key:
            if type(event) is not ScalarEvent:
                if type(event) is AliasEvent:
                    _node_problems(event, base, line, problems)
                else:
                    _add(problems, Problem(format_path(base), "keys must be text", line))
                # Without a key the value has no place either: skip both.
                _skip(events, event)
                _skip(events, next(events))
                continue
            key, key_line, want_key = event.value, line, False
            duplicate = key in mapping
            if duplicate:
                message = f"duplicate key {key!r} (first at line {lines[(*base, key)]})"
                _add(problems, Problem(format_path((*base, key)), message, line))
            if event.anchor is not None or event.tag is not None:
                _node_problems(event, (*base, key), line, problems)
            continue
        # A value: its path, and its line (for a mapping's entry, the key's).
        if mapping is not None:
            path: Path = (*base, key)
            line = key_line
        elif sequence is not None:
            path = (*base, len(sequence))
        else:
            path = ()
        if not duplicate:  # keep the first line for the next duplicate's message
            lines[path] = line
        if event.anchor is not None or getattr(event, "tag", None) is not None:
            _node_problems(event, path, line, problems)
        value: object = None
        if type(event) is ScalarEvent:
            value = event.value
            # Only a plain scalar can be anything but a string; most start with a letter.
            if event.implicit[0] and (not value or event.value[0] in _MAYBE):
                value = _resolve(event.value)
                if type(value) is not str:
                    texts[path] = event.value
        elif type(event) is not AliasEvent:
            if len(stack) < MAX_DEPTH:
                value = {} if type(event) is MappingStartEvent else []
            else:
                _skip(events, event)
                if not deep:  # once: every deeper node would say the same
                    deep = True
                    _add(problems, Problem(format_path(path), _TOO_DEEP, line))
        if mapping is not None:
            mapping[key] = value
            want_key, duplicate = True, False
        elif sequence is not None:
            sequence.append(value)
        else:
            root = value
        if type(value) is dict:
            stack.append((mapping, sequence, base))
            mapping, sequence, base, want_key = value, None, path, True
        elif type(value) is list:
            stack.append((mapping, sequence, base))
            mapping, sequence, base = None, value, path
    return root, deep


_YAML_TAG = "tag:yaml.org,2002:"


def _node_problems(event: NodeEvent, path: Path, line: int, problems: list[Problem]) -> None:
    where = format_path(path)
    if event.anchor is not None:
        name = ("*" if type(event) is AliasEvent else "&") + event.anchor
        message = f"anchors and aliases are not allowed ({name}); write the value out"
        _add(problems, Problem(where, message, line))
    tag = getattr(event, "tag", None)
    if tag is not None:
        shown = "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag
        _add(problems, Problem(where, f"tags are not allowed ({shown})", line))
