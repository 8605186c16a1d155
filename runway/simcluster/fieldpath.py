"""Field paths and sets of them, in the notation kube-apiserver writes into `managedFields`.

A path element is kept as the string `fieldsV1` uses for it: `f:spec` (a field),
`k:{"name":"web"}` (a keyed list item), `v:"x"` (a set item) or `i:0` (an item of an atomic list,
only ever in error messages). A `FieldSet` is structured-merge-diff's `fieldpath.Set`: a trie whose
nodes may be members themselves (written `.: {}` when they also have children). Ordering, set
algebra and the printed forms (`.spec.template.spec.containers[name="web"].image`) follow
structured-merge-diff.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

PathElement = str
Path = tuple[PathElement, ...]

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json(value: Any) -> str:
    """JSON as Go's encoding/json writes it: compact, map keys sorted, HTML characters escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def field(name: str) -> PathElement:
    return "f:" + name


def key(fields: Mapping[str, Any]) -> PathElement:
    if all(type(v) in _SCALARS for v in fields.values()):
        return _scalar_key(tuple((k, type(v), v) for k, v in fields.items()))
    return "k:" + go_json(dict(fields))


_SCALARS = frozenset({str, int, bool})
_TAGS = ("f:", "k:", "v:", "i:")


@functools.lru_cache(maxsize=8192)
def _scalar_key(fields: tuple[tuple[str, type, Any], ...]) -> PathElement:
    # Cached: every write keys the same list items again (a container's name, a port's number),
    # and encoding each key as Go's JSON is a good part of its cost. The type is in the cache
    # key so that `true` and `1` stay apart.
    return "k:" + go_json({k: v for k, _, v in fields})


def value(item: Any) -> PathElement:
    return "v:" + go_json(item)


def index(i: int) -> PathElement:
    return f"i:{i}"


def to_string(item: Any) -> str:
    """A value as structured-merge-diff prints it in a path: strings quoted, numbers bare."""
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float) and item.is_integer():
        return str(int(item))
    if isinstance(item, int | float):
        return repr(item)
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False)
    if isinstance(item, list):
        return "[" + ",".join(to_string(v) for v in item) + "]"
    if isinstance(item, Mapping):
        return "{" + ";".join(f"{k}={to_string(v)}" for k, v in sorted(item.items())) + "}"
    return str(item)


def element_string(pe: PathElement) -> str:
    """`.spec`, `[name="web"]`, `[="x"]`, `[0]`."""
    tag, body = pe[0], pe[2:]
    if tag == "f":
        return "." + body
    if tag == "k":
        fields = json.loads(body)
        return "[" + ",".join(f"{k}={to_string(v)}" for k, v in fields.items()) + "]"
    if tag == "v":
        return "[=" + to_string(json.loads(body)) + "]"
    return f"[{body}]"


def path_string(path: Path) -> str:
    """A path as the API server prints it: `.spec.template.spec.containers[name="web"].image`."""
    return "".join(element_string(pe) for pe in path)


def _value_order(item: Any) -> tuple[Any, ...]:
    # structured-merge-diff's value.Compare: numbers < strings < booleans < lists < maps < null.
    if item is None:
        return (5,)
    if isinstance(item, bool):
        return (2, item)
    if isinstance(item, int | float):
        return (0, item)
    if isinstance(item, str):
        return (1, item)
    if isinstance(item, list):
        return (3, tuple(_value_order(v) for v in item))
    if isinstance(item, Mapping):
        return (4, tuple((k, _value_order(v)) for k, v in sorted(item.items())))
    return (6, str(item))


@functools.lru_cache(maxsize=16384)
def _element_order(pe: PathElement) -> tuple[Any, ...]:
    # Fields, then keys, then values, then indexes (PathElement.Compare). Cached: a pure
    # function of the string (its result immutable), and every write sorts the same elements.
    tag, body = pe[0], pe[2:]
    if tag == "f":
        return (0, body)
    if tag == "k":
        return (1, tuple((k, _value_order(v)) for k, v in json.loads(body).items()))
    if tag == "v":
        return (2, _value_order(json.loads(body)))
    return (3, int(body) if body.isdigit() else body)


class FieldSet:
    """A set of field paths (structured-merge-diff's `fieldpath.Set`).

    Not changed once built (`insert` is for building one): the set operations share unchanged
    parts between their operands and their results instead of copying them, as every write
    takes each manager's fields apart and together again. So a node's `fieldsV1` is written
    once and kept on it (shared by every `fieldsV1` that holds it, never changed either): a
    write that moves one field writes the nodes on its path again, not the whole set."""

    __slots__ = ("_trips", "_written", "_written_self", "children", "members")

    def __init__(self) -> None:
        self.members: set[PathElement] = set()
        self.children: dict[PathElement, FieldSet] = {}
        self._written: dict[str, Any] | None = None
        self._written_self: dict[str, Any] | None = None
        self._trips: bool | None = None

    def _forget(self) -> None:
        self._written = self._written_self = self._trips = None

    @classmethod
    def of(cls, *paths: Path) -> FieldSet:
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    def insert(self, path: Path) -> None:
        node = self
        node._forget()  # what was written of the nodes on the path no longer holds
        for pe in path[:-1]:
            below = node.children.get(pe)
            if below is None:  # not setdefault: that would build a FieldSet every time
                below = node.children[pe] = FieldSet()
            node = below
            node._forget()
        if path:
            node.members.add(path[-1])

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node else None
        return bool(node and path and path[-1] in node.members)

    def child(self, pe: PathElement) -> FieldSet | None:
        return self.children.get(pe)

    def empty(self) -> bool:
        return not self.members and not self.children

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        if self is other:
            return True
        return self.members == other.members and self.children == other.children

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FieldSet({[path_string(p) for p in self.paths()]})"

    def copy(self) -> FieldSet:
        out = FieldSet()
        out.members = set(self.members)
        out.children = {pe: c.copy() for pe, c in self.children.items()}
        return out

    def union(self, other: FieldSet) -> FieldSet:
        """Paths of either; `self` itself when `other` adds nothing to it (sets are never changed
        in place, so the result may be an operand: an unchanged manager keeps its very set)."""
        members = self.members | other.members
        children = dict(self.children)
        grew = len(members) != len(self.members)
        for pe, theirs in other.children.items():
            mine = children.get(pe)
            if mine is None:
                children[pe] = theirs
                grew = True
            else:
                both = mine.union(theirs)
                if both is not mine:
                    children[pe] = both
                    grew = True
        if not grew:
            return self
        out = FieldSet()
        out.members = members
        out.children = children
        return out

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths of self not in other; a path in other takes nothing below it (`Set.Difference`).
        `self` itself when nothing goes (see `union`)."""
        members = self.members - other.members if other.members else self.members
        shrank = len(members) != len(self.members)
        children: dict[PathElement, FieldSet] = {}
        for pe, mine in self.children.items():
            theirs = other.children.get(pe)
            rest = mine.difference(theirs) if theirs is not None else mine
            if rest.empty():
                shrank = True  # an empty child is dropped (none is ever built, though)
                continue
            if rest is not mine:
                shrank = True
            children[pe] = rest
        if not shrank:
            return self
        out = FieldSet()
        out.members = members if members is not self.members else set(members)
        out.children = children
        return out

    def intersection(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members & other.members
        for pe, mine in self.children.items():
            theirs = other.children.get(pe)
            both = mine.intersection(theirs) if theirs else None
            if both is not None and not both.empty():
                out.children[pe] = both
        return out

    def without(self, pe: PathElement) -> FieldSet:
        """Self without `pe` and everything below it."""
        out = FieldSet()
        out.members = self.members - {pe}
        out.children = {k: c for k, c in self.children.items() if k != pe}
        return out

    def only(self, pes: set[PathElement]) -> FieldSet:
        """Self restricted to the top-level elements `pes` and what lies below them."""
        out = FieldSet()
        out.members = self.members & pes
        out.children = {pe: c for pe, c in self.children.items() if pe in pes}
        return out

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member, in structured-merge-diff's order: a level's members, then its children."""
        for pe in sorted(self.members, key=_element_order):
            yield (*prefix, pe)
        for pe in sorted(self.children, key=_element_order):
            yield from self.children[pe].paths((*prefix, pe))

    def to_fields_v1(self) -> dict[str, Any]:
        """The `fieldsV1` object: `.` first, then elements sorted as kube-apiserver writes them."""
        return self._emit(include_self=False)

    def _emit(self, include_self: bool) -> dict[str, Any]:
        if include_self and not self.empty():
            written = self._written_self
            if written is None:
                written = self._written_self = {".": {}, **self._emit(False)}
            return written
        written = self._written
        if written is None:
            written = {}
            for pe in sorted(self.members | self.children.keys(), key=_element_order):
                node = self.children.get(pe)
                written[pe] = node._emit(pe in self.members) if node is not None else {}
            self._written = written
        return written

    def round_trips(self) -> bool:
        """Whether `from_fields_v1(self.to_fields_v1())` is this very set: every element in the
        `fieldsV1` notation, and no empty node below (it would read back as a member)."""
        if self._trips is None:
            self._trips = all(pe[:2] in _TAGS for pe in self.members) and all(
                pe[:2] in _TAGS and not node.empty() and node.round_trips()
                for pe, node in self.children.items()
            )
        return self._trips

    @classmethod
    def from_fields_v1(cls, data: Mapping[str, Any]) -> FieldSet:
        """Parse a `fieldsV1` object; raises ValueError when it is not one."""
        out = cls()
        for pe, sub in data.items():
            if pe == ".":
                continue
            if not isinstance(sub, Mapping) or pe[:2] not in _TAGS:
                raise ValueError(f"invalid fieldsV1 element {pe!r}")
            if not sub or "." in sub:
                out.members.add(pe)
            if any(k != "." for k in sub):
                out.children[pe] = cls.from_fields_v1(sub)
        return out
