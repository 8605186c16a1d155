"""Objects walked with their schema, the way structured-merge-diff walks typed values.

Four walks server-side apply is made of: the set of fields an object sets (`field_set`, which also
refuses what the schema cannot type), merging an applied object into a live one (`merge`), what
changed between two objects (`compare`) and removing fields (`remove`). Values are plain JSON data;
nothing here mutates its inputs, but results share parts with them: copy inputs you will change.

`compare(creating=True)` stands in for a detail of kube-apiserver it cannot see: a write that
creates an object is compared with Go's zero-valued object, which already holds its structs and
required fields, so their appearing is no change of its own (`f:spec: {f:replicas: {}}`,
`f:containers: {k:...}`, not `f:spec: {.: {}, ...}`), while optional maps and lists, list items and
everything inside a new item or map entry are (`f:labels: {.: {}, f:app: {}}`). Any struct field
counts as zero-valued, though Go leaves out the optional ones held by pointer (`rollingUpdate`).
Between two real objects every map, list or item that one side lacks is a change, as in Go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runway.simcluster import fieldpath as fp
from runway.simcluster.fieldpath import FieldSet, Path, PathElement
from runway.simcluster.schemas import Node


class TypingError(Exception):
    """The object does not fit its schema; `problems` are (path, what), worded as in Go."""

    def __init__(self, problems: list[tuple[Path, str]]) -> None:
        self.problems = problems
        super().__init__(self.text())

    def text(self) -> str:
        lines = [f"{fp.path_string(p)}: {what}" if p else what for p, what in self.problems]
        return lines[0] if len(lines) == 1 else "\n".join(["errors:", *("  " + x for x in lines)])


def same(a: Any, b: Any) -> bool:
    """Deep equality that, unlike ==, tells `true` from `1`."""
    if a is b:  # a part two states of an object share (a copy-on-write write) is the same
        return True
    if type(a) is str and type(b) is str:  # most leaves, answered without the checks below
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def item_element(node: Node, item: Any, i: int) -> PathElement:
    """The path element of item `i` of a list; raises ValueError when a keyed item has no key."""
    if node.list_type == "map":
        if item is None:
            raise ValueError("associative list with keys may not have a null element")
        if not isinstance(item, Mapping):
            raise ValueError("associative list with keys may not have non-map elements")
        key: dict[str, Any] = {}
        for name in sorted(node.keys):
            if name in item:
                key[name] = item[name]
            elif name in node.key_defaults:
                key[name] = node.key_defaults[name]
            else:
                raise ValueError(
                    f'associative list with keys has an element that omits key field "{name}"'
                    " (and doesn't have default value)"
                )
        return fp.key(key)
    if node.list_type == "set":
        if isinstance(item, Mapping | list):
            what = "map" if isinstance(item, Mapping) else "list"
            raise ValueError(f"associative list without keys has an element that's a {what} type")
        return fp.value(item)
    return fp.index(i)


def _safe_element(node: Node, item: Any, i: int) -> PathElement:
    # Live objects are the server's own: an item that cannot be keyed is only addressed by index.
    try:
        return item_element(node, item, i)
    except ValueError:
        return fp.index(i)


def child_node(node: Node, pe: PathElement) -> Node:
    """The type below `node` at `pe`; untyped where the schema says nothing."""
    if pe.startswith("f:"):
        return node.field(pe[2:]) or node.untyped
    return node.items if node.kind == "list" else node.untyped


# -- the fields an object sets -------------------------------------------------------------------


@dataclass
class _FieldSetWalk:
    strict: bool
    problems: list[tuple[Path, str]] = field(default_factory=list)
    out: FieldSet = field(default_factory=FieldSet)

    def walk(self, value: Any, node: Node, path: Path, record: bool) -> None:
        if value is None:
            return
        kind = _deduced(value) if node.kind == "any" else node.kind
        if node.kind == "any" and kind == "list":  # untyped lists are atomic
            if record:
                self.out.insert(path)
            return
        if kind == "scalar":
            problem = _scalar_problem(node, value) if node.kind == "scalar" else None
            if problem:
                self.problem(path, problem)
            elif record:
                self.out.insert(path)
        elif kind == "list":
            self.walk_list(value, node, path, record)
        else:
            self.walk_map(value, node, path, record)

    def problem(self, path: Path, what: str) -> None:
        if self.strict:
            self.problems.append((path, what))

    def walk_list(self, value: Any, node: Node, path: Path, record: bool) -> None:
        if not isinstance(value, list):
            return self.problem(path, f"expected list, got {_go_value(value)}")
        atomic = node.atomic
        if atomic and record:
            self.out.insert(path)
        seen: set[PathElement] = set()
        for i, item in enumerate(value):
            try:
                pe = item_element(node, item, i)
            except ValueError as e:
                # structured-merge-diff gives up on the rest of the list, as here.
                return self.problem(path, f"element {i}: {e}")
            if pe in seen:
                self.problem(path, f"duplicate entries for key {fp.element_string(pe)}")
            seen.add(pe)
            self.walk(item, node.items, (*path, pe), record and not atomic)
            if record and not atomic:
                self.out.insert((*path, pe))
        return None

    def walk_map(self, value: Any, node: Node, path: Path, record: bool) -> None:
        if not isinstance(value, Mapping):
            return self.problem(path, f"expected map, got {_go_value(value)}")
        atomic = node.atomic
        if atomic and record:
            self.out.insert(path)
        for name, sub in value.items():
            child = node.field(name)
            here = (*path, fp.field(name))
            if child is None:
                if self.strict:
                    self.problems.append((here, "field not declared in schema"))
                    break  # structured-merge-diff stops at a map's first undeclared field
                child = node.untyped
            self.walk(sub, child, here, record and not atomic)
            empty = sub is None or (isinstance(sub, Mapping) and not sub)
            if record and not atomic and (empty or not node.declares(name)):
                self.out.insert(here)
        return None


def _deduced(value: Any) -> str:
    return "map" if isinstance(value, Mapping) else "list" if isinstance(value, list) else "scalar"


def _scalar_problem(node: Node, value: Any) -> str | None:
    if isinstance(value, Mapping | list):
        go_type = "map[string]interface {}" if isinstance(value, Mapping) else "[]interface {}"
    else:
        go_type = {bool: "bool", int: "int64", float: "float64", str: "string"}.get(type(value), "")
    if node.scalar == "numeric" and go_type not in ("int64", "float64"):
        return f"expected numeric (int or float), got {go_type}"
    if node.scalar == "string" and go_type != "string":
        return f"expected string, got &value.valueUnstructured{{Value:{_go_value(value)}}}"
    if node.scalar == "boolean" and go_type != "bool":
        return f"expected boolean, got &{{{fp.to_string(value).strip(chr(34))}}}"
    if node.scalar == "untyped" and go_type not in ("int64", "float64", "string", "bool"):
        return f"expected any scalar, got &{{{fp.to_string(value)}}}"
    return None


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return fp.go_json(value)
    return fp.to_string(value)


def field_set(value: Any, node: Node, *, strict: bool) -> FieldSet:
    """The fields `value` sets, as its manager would own them; strict raises TypingError."""
    walk = _FieldSetWalk(strict)
    walk.walk(value, node, (), True)
    if walk.problems:
        raise TypingError(walk.problems)
    return walk.out


def check(value: Any, node: Node) -> None:
    """Raise TypingError where `value` does not fit its schema (as `field_set(strict=True)`
    does), without building the set of its fields: decoding only needs the verdict."""
    walk = _FieldSetWalk(strict=True)
    walk.walk(value, node, (), False)
    if walk.problems:
        raise TypingError(walk.problems)


def named_fields(fields: FieldSet, node: Node) -> FieldSet:
    """`fields` plus every named field above a member (`EnsureNamedFieldsAreMembers`)."""
    out = FieldSet()
    out.members = set(fields.members)
    for pe, sub in fields.children.items():
        if pe.startswith("f:") and node.declares(pe[2:]):
            out.members.add(pe)
        out.children[pe] = named_fields(sub, child_node(node, pe))
    return out


def keep_keys(fields: FieldSet, node: Node) -> FieldSet:
    """`fields` without the key fields of keyed list items it does not remove whole."""
    out = FieldSet()
    out.members = set(fields.members)
    for pe, sub in fields.children.items():
        below = child_node(node, pe)
        sub = keep_keys(sub, below)
        if pe.startswith("k:") and pe not in fields.members:
            sub.members -= {fp.field(k) for k in node.keys}
        if not sub.empty():
            out.children[pe] = sub
    return out


# -- merging ------------------------------------------------------------------------------------

_MISSING: Any = object()


def merge(live: Any, applied: Any, node: Node) -> Any:
    """`applied` merged into `live`: keyed lists by key, atomic values replaced whole."""
    if applied is _MISSING:
        return live
    if live is _MISSING or live is None or applied is None or node.atomic:
        return applied
    kind = node.kind
    if kind == "list" and isinstance(live, list) and isinstance(applied, list):
        return _merge_list(live, applied, node)
    if (
        kind in ("struct", "map", "any")
        and isinstance(live, Mapping)
        and isinstance(applied, Mapping)
    ):
        out = {}
        for name, sub in live.items():
            child = node.field(name) or node.untyped
            out[name] = merge(sub, applied.get(name, _MISSING), child)
        for name, sub in applied.items():
            if name not in live:
                out[name] = sub
        return out
    return applied


def _merge_list(live: list[Any], applied: list[Any], node: Node) -> list[Any]:
    # structured-merge-diff's order: live items keep their places, applied items shared with live
    # follow the applied order, new applied items come where the applied list puts them.
    lpes = [_safe_element(node, item, i) for i, item in enumerate(live)]
    rpes = [item_element(node, item, i) for i, item in enumerate(applied)]
    lhs: dict[PathElement, list[Any]] = {}
    for pe, item in zip(lpes, live, strict=True):
        lhs.setdefault(pe, []).append(item)
    rhs = dict(zip(rpes, applied, strict=True))
    shared = [pe for pe in rpes if pe in lhs]
    next_shared = 0
    done: set[PathElement] = set()
    out: list[Any] = []

    def take(pe: PathElement) -> None:
        nonlocal next_shared
        done.add(pe)
        olds = lhs.get(pe, [])
        out.append(merge(olds[0] if len(olds) == 1 else _MISSING, rhs[pe], node.items))
        if next_shared < len(shared) and shared[next_shared] == pe:
            next_shared += 1

    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                take(pe)
                li, ri = li + 1, ri + 1
                continue
            if pe in rhs and next_shared < len(shared) and shared[next_shared] != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in rhs:
                out.append(live[li])
                li += 1
                continue
            if pe in done:
                li += 1
                continue
        if ri < len(rpes):
            take(rpes[ri])
            ri += 1
    return out


# -- comparing ----------------------------------------------------------------------------------


@dataclass
class Comparison:
    """What changed between two objects, as paths (`typed.Comparison`)."""

    modified: FieldSet = field(default_factory=FieldSet)
    added: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)
    creating: bool = False  # compared with Go's zero-valued object (see the module notes)

    def changed(self) -> FieldSet:
        return self.modified.union(self.added)


def compare(old: Any, new: Any, node: Node, *, creating: bool = False) -> Comparison:
    """Paths modified, added and removed going from `old` to `new` (None when `creating`)."""
    out = Comparison(creating=creating)
    _compare({} if old is None else old, new, node, (), out)
    return out


def _compare(
    old: Any, new: Any, node: Node, path: Path, out: Comparison, counted: bool = True
) -> None:
    # `counted`: whether this node appearing or going is a change of its own (see the module notes).
    if old is new:  # the same value (or both missing): nothing below it changed
        return
    if old == new and same(old, new):  # equal (C's == first, then true told from 1): neither
        return  # side lacks anything below, so nothing changed there either
    old = _MISSING if old is None else old
    new = _MISSING if new is None else new
    if old is _MISSING and new is _MISSING:
        return
    kind: str = node.kind
    if kind == "any":  # untyped: maps are granular, lists atomic
        kind = _deduced(new if new is not _MISSING else old).replace("list", "scalar")
    # (Spelled out, not `all(...)` over both: this runs for every node of every write.)
    is_list = (
        kind == "list"
        and (old is _MISSING or isinstance(old, list))
        and (new is _MISSING or isinstance(new, list))
    )
    is_map = (
        (kind == "struct" or kind == "map")
        and (old is _MISSING or type(old) is dict or isinstance(old, Mapping))
        and (new is _MISSING or type(new) is dict or isinstance(new, Mapping))
    )
    # Both sides empty is a leaf, so that `[]` and `{}` are told from nothing.
    empty = (is_list or is_map) and (old is _MISSING or not old) and (new is _MISSING or not new)
    if node.atomic or not (is_list or is_map) or empty:
        if old is _MISSING:
            out.added.insert(path)
        elif new is _MISSING:
            out.removed.insert(path)
        elif not same(old, new):
            out.modified.insert(path)
        return
    # Below a list item or map entry only one side has, Go's zero values are missing too.
    one_sided = old is _MISSING or new is _MISSING
    if is_list:
        olds = _by_element(node, old)
        news = _by_element(node, new)
        for pe in olds.keys() | news.keys():
            _compare(olds.get(pe), news.get(pe), node.items, (*path, pe), out)
    else:
        olds = {} if old is _MISSING else old
        news = {} if new is _MISSING else new
        for name in olds.keys() | news.keys():
            child = node.field(name) or node.untyped
            zero_valued = node.declares(name) and (child.kind == "struct" or name in node.required)
            here = (*path, fp.field(name))
            counts = not out.creating or (counted and one_sided) or not zero_valued
            _compare(olds.get(name), news.get(name), child, here, out, counts)
    if counted:
        if old is _MISSING:
            out.added.insert(path)
        elif new is _MISSING:
            out.removed.insert(path)


def _by_element(node: Node, items: Any) -> dict[PathElement, Any]:
    if items is _MISSING:
        return {}
    # The first of duplicated items stands for them all.
    return {_safe_element(node, x, i): x for i, x in reversed(list(enumerate(items)))}


# -- removing -----------------------------------------------------------------------------------


def remove(value: Any, fields: FieldSet, node: Node) -> Any:
    """`value` without the fields in `fields`; a member goes with everything below it."""
    if node.atomic or fields.empty():
        return value
    if isinstance(value, list) and node.kind == "list":
        out = []
        for i, item in enumerate(value):
            pe = _safe_element(node, item, i)
            if pe in fields.members:
                continue
            sub = fields.children.get(pe)
            out.append(remove(item, sub, node.items) if sub else item)
        return out
    if isinstance(value, Mapping):
        kept = {}
        for name, item in value.items():
            pe = fp.field(name)
            if pe in fields.members:
                continue
            sub = fields.children.get(pe)
            child = node.field(name) or node.untyped
            kept[name] = remove(item, sub, child) if sub else item
        return kept
    return value


def drop_nulls(value: Any) -> Any:
    """`value` without null map entries: a typed object has no `field: null`."""
    if isinstance(value, Mapping):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value
