"""Server-side apply and `managedFields`, as kube-apiserver does them with structured-merge-diff.

Every write records who set what. An apply (`server_side_apply`) merges the applied object into the
live one by the schema (keyed lists by key, atomic lists and maps whole), removes what its manager
stopped sending and nobody else owns, and refuses (or with force, takes) fields another manager owns
and it would change. Other writes (`record_update`) give their manager the fields they changed.
The server around these functions keeps resourceVersion, generation, uid, timestamps, defaults and
status; these functions only merge, prune and account.

Not done, as kube-apiserver does: capping `Update` entries at ten (older ones merged into
`ancient-changes`), and the `last-applied-configuration` annotation's upgrade to server-side apply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runway.simcluster import typed
from runway.simcluster.clone import clone
from runway.simcluster.fieldpath import FieldSet, Path, path_string
from runway.simcluster.schemas import Node, SchemaRegistry, UnknownKind

Object = dict[str, Any]

# Fields no manager owns: kube-apiserver's stripMeta set.
_STRIPPED = FieldSet.of(
    ("f:apiVersion",),
    ("f:kind",),
    ("f:metadata",),
    *(
        ("f:metadata", "f:" + name)
        for name in (
            "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
            "generation", "managedFields", "resourceVersion",
        )
    ),
)  # fmt: skip
# Metadata the server alone writes: an applied object's values for these are not merged.
_SERVER_METADATA = frozenset(
    {
        "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp", "generation",
        "managedFields", "resourceVersion", "selfLink", "uid",
    }
)  # fmt: skip


class FieldManagerError(Exception):
    """Base of the errors server-side apply raises."""


class ApplyError(FieldManagerError):
    """The applied object does not fit its schema (kube-apiserver answers 500 with no reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApplyConflict(FieldManagerError):
    """Applying without force would change fields other managers own (409 Conflict)."""

    def __init__(self, found: list[tuple[Manager, Path]]) -> None:
        self._found = found
        self.conflicts: list[tuple[str, str]] = [(m.name, path_string(p)) for m, p in found]
        super().__init__(self.message())

    def message(self) -> str:
        """The Status message, worded as kube-apiserver words it."""
        if len(self._found) == 1:
            manager, path = self._found[0]
            where = path_string(path)
            return f"Apply failed with 1 conflict: conflict with {manager.printed()}: {where}"
        lines: list[str] = []
        for manager in sorted({m for m, _ in self._found}, key=Manager.identifier):
            lines.append(f"conflicts with {manager.printed()}:")
            lines.extend(f"- {path_string(p)}" for m, p in self._found if m == manager)
        return f"Apply failed with {len(self._found)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict[str, str]]:
        """The Status's `details.causes`."""
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {m.printed()}",
                "field": path_string(p),
            }
            for m, p in self._found
        ]


@dataclass(frozen=True)
class Manager:
    """Who a `managedFields` entry belongs to; `Update` entries are told apart by apiVersion too."""

    name: str
    operation: str
    subresource: str = ""
    api_version: str = ""

    def identifier(self) -> str:
        """structured-merge-diff's manager key: the entry's JSON without fields and time."""
        entry = {"manager": self.name, "operation": self.operation}
        if self.api_version:
            entry["apiVersion"] = self.api_version
        if self.subresource:
            entry["subresource"] = self.subresource
        return json.dumps(entry, separators=(",", ":"))

    def printed(self) -> str:
        """How conflict messages name the manager."""
        name = json.dumps(self.name, ensure_ascii=False)
        if self.operation == "Update":
            return f"{name} using {self.api_version}"
        if self.subresource:
            return f'{name} with subresource "{self.subresource}"'
        return name


@dataclass
class _Entry:
    fields: FieldSet
    api_version: str
    time: str | None
    original: Mapping[str, Any] | None = None  # written back as it was when nothing moved

    def unchanged(self) -> bool:
        o = self.original
        return o is not None and o.get("time") == self.time and _fields(o) == self.fields


_PARSED: dict[int, tuple[object, FieldSet]] = {}
"""Parsed `fieldsV1` by the identity of the parsed object, kept alive beside its FieldSet (so
its id cannot be another's meanwhile). Entries pass from one state of an object to the next
unchanged and shared, so each write would otherwise parse every manager's fields again, twice.
FieldSets are never changed in place once built: sharing the parsed one is safe."""
_PARSED_KEPT = 20_000


def _fields(entry: Mapping[str, Any]) -> FieldSet | None:
    data = entry.get("fieldsV1") or {}
    cached = _PARSED.get(id(data))
    if cached is not None and cached[0] is data:
        return cached[1]
    try:
        parsed = FieldSet.from_fields_v1(data)
    except (ValueError, AttributeError, TypeError, IndexError):
        return None
    _remember(data, parsed)
    return parsed


def _remember(data: object, parsed: FieldSet) -> None:
    if len(_PARSED) >= _PARSED_KEPT:
        _PARSED.clear()
    _PARSED[id(data)] = (data, parsed)


def _fields_v1(fields: FieldSet) -> dict[str, Any]:
    """`fields.to_fields_v1()` (written once per set and kept on it: see FieldSet), which reads
    back as this very set (no parsing on the next write) when it reads back as an equal one."""
    data = fields.to_fields_v1()
    if fields.round_trips():
        _remember(data, fields)
    return data


def _decode(entries: Any) -> dict[Manager, _Entry]:
    """An object's managedFields by manager; raises ValueError on an entry that cannot be read."""
    out: dict[Manager, _Entry] = {}
    for entry in entries or ():
        if not isinstance(entry, Mapping):
            raise ValueError("managedFields entries must be objects")
        if not entry.get("manager") and not entry.get("fieldsV1"):
            continue  # `[{}]` is how a client clears managedFields
        fields = _fields(entry)
        operation = entry.get("operation", "")
        if fields is None or entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError("unsupported managedFields entry")
        api_version = str(entry.get("apiVersion", ""))
        manager = Manager(
            str(entry.get("manager", "")),
            str(operation),
            str(entry.get("subresource", "")),
            api_version if operation == "Update" else "",
        )
        out[manager] = _Entry(fields, api_version, entry.get("time"), entry)
    return out


def _encode(managers: Mapping[Manager, _Entry]) -> list[Object]:
    """managedFields entries, sorted as kube-apiserver sorts them."""
    out: list[Object] = []
    for manager, entry in managers.items():
        if entry.unchanged() and entry.original is not None:
            out.append(dict(entry.original))  # its fieldsV1 shared: never changed in place
            continue
        encoded: Object = {
            "manager": manager.name,
            "operation": manager.operation,
            "apiVersion": entry.api_version,
        }
        if entry.time is not None:
            encoded["time"] = entry.time
        encoded["fieldsType"] = "FieldsV1"
        encoded["fieldsV1"] = _fields_v1(entry.fields)
        if manager.subresource:
            encoded["subresource"] = manager.subresource
        out.append(encoded)
    out.sort(
        key=lambda e: (
            e.get("operation", ""),
            e.get("time") or "",
            e.get("manager", ""),
            e.get("apiVersion", ""),
            e.get("subresource", ""),
        )
    )
    return out


def _owned(fields: FieldSet, subresource: str | None) -> FieldSet:
    """The part of `fields` a manager of this endpoint can own (stripMeta and reset fields)."""
    fields = fields.difference(_STRIPPED)
    return fields.only({"f:status"}) if subresource == "status" else fields.without("f:status")


def _scoped(obj: Mapping[str, Any], subresource: str | None) -> Object:
    """What of an applied object this endpoint writes: status alone, or everything but status."""
    if subresource == "status":
        return {k: clone(v) for k, v in obj.items() if k in ("apiVersion", "kind", "status")}
    out = {k: clone(v) for k, v in obj.items() if k != "status"}
    if isinstance(out.get("metadata"), Mapping):
        meta = out["metadata"]
        out["metadata"] = {k: v for k, v in meta.items() if k not in _SERVER_METADATA}
    return out


def _without_managed_fields(obj: Mapping[str, Any]) -> Object:
    out = dict(obj)
    if isinstance(out.get("metadata"), Mapping):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "managedFields"}
    return out


def _status_only(obj: Object) -> Object:
    return {"status": obj["status"]} if "status" in obj else {}


def _with_managed_fields(obj: Object, managed: list[Object]) -> Object:
    meta = obj.setdefault("metadata", {})
    if managed:
        meta["managedFields"] = managed
    else:
        meta.pop("managedFields", None)
    return obj


def _root(registry: SchemaRegistry, obj: Mapping[str, Any]) -> Node:
    return registry.root(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))


def _gvk(obj: Mapping[str, Any]) -> str:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return f"{group}/{version}, Kind={obj.get('kind', '')}"


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    registry: SchemaRegistry,
    now: str,
    subresource: str | None = None,
) -> dict[str, Any]:
    """The object after applying `applied` as `manager` onto `live` (None: create).

    Returns a NEW dict (never mutates inputs) whose metadata.managedFields is updated (operation
    'Apply', fieldsType 'FieldsV1', fieldsV1 in the real f:/k: notation, time=now only when that
    manager's entry or the object changed). Raises ApplyConflict (without force) or ApplyError.
    Does not touch resourceVersion, generation, uid, creationTimestamp or status (the server does),
    and does not apply defaults: the server re-runs its defaulting afterwards, which is how a field
    that lost its only owner returns to its default. With `subresource="status"` only status is
    written, under its own entry.
    """
    meta = applied.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {_gvk(applied)}"
    try:
        root = _root(registry, applied)
        typed.check(applied, root)
    except (UnknownKind, typed.TypingError) as e:
        what = e.text() if isinstance(e, typed.TypingError) else str(e.args[0])
        raise ApplyError(f"failed to create typed patch object ({where}): {what}") from None

    config = _scoped(applied, subresource)
    mine = Manager(manager, "Apply", subresource or "")
    applied_fields = _owned(typed.field_set(config, root, strict=False), subresource)
    current = clone(live) if live is not None else {}
    try:
        managers = _decode((current.get("metadata") or {}).get("managedFields"))
    except ValueError:  # unreadable managedFields are reset, as kube-apiserver resets them
        managers = {}
    last = managers.get(mine)

    merged = typed.merge(current, config, root)
    if last is not None:
        merged = _prune(merged, root, last.fields, applied_fields, managers, mine)
    merged = typed.drop_nulls(merged)

    before, after = _without_managed_fields(current), _without_managed_fields(merged)
    comparison = typed.compare(before, after, root, creating=live is None)
    changed = comparison.changed()
    found: list[tuple[Manager, Path]] = []
    for other, entry in sorted(managers.items(), key=lambda m: m[0].identifier()):
        if other != mine:
            taken = entry.fields.intersection(changed)
            found.extend((other, path) for path in taken.paths())
            entry.fields = entry.fields.difference(taken).difference(comparison.removed)
    if found and not force:
        raise ApplyConflict(found)

    object_changed = not typed.same(before, after)
    if last is None or last.fields != applied_fields or object_changed:
        api_version = str(applied.get("apiVersion", ""))
        managers[mine] = _Entry(applied_fields, api_version, now)
    managers = {m: e for m, e in managers.items() if not e.fields.empty()}
    stored = (current.get("metadata") or {}).get("managedFields") or []
    unchanged = len(managers) == len(stored) and all(e.unchanged() for e in managers.values())
    if live is not None and not object_changed and unchanged:
        return clone(live)
    return _with_managed_fields(merged, _encode(managers))


def _prune(
    merged: Any,
    root: Node,
    last: FieldSet,
    applied: FieldSet,
    managers: Mapping[Manager, _Entry],
    mine: Manager,
) -> Any:
    """Remove what `mine` applied last time, no longer applies, and nobody else owns.

    structured-merge-diff's prune, addBackOwnedItems and addBackDanglingItems come to this: a path
    goes (with everything below it) when the object has it, the manager's last apply set it, and no
    manager's set (the new apply's included) holds it, counting a struct field above an owned field
    as owned. A keyed list item goes whole: its key fields are never removed on their own.
    """
    owned = applied
    for manager, entry in managers.items():
        if manager != mine:
            owned = owned.union(entry.fields)
    present = typed.named_fields(typed.field_set(merged, root, strict=False), root)
    doomed = present.intersection(typed.named_fields(last, root))
    doomed = doomed.difference(typed.named_fields(owned, root))
    return typed.remove(merged, typed.keep_keys(doomed, root), root)


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    registry: SchemaRegistry,
    now: str,
    subresource: str | None = None,
) -> dict[str, Any]:
    """For POST/PUT/merge-patch writes (operation 'Update'): `new` with managedFields updated.

    `manager` owns the fields it set or changed (an 'Update' entry, time=now), and other managers
    lose those fields and any it removed (no conflicts for updates). A write that changes nothing
    leaves managedFields as they were. Pass `new` as the server will store it (defaulted, as
    kube-apiserver records a create's defaults as its writer's); its status is ignored unless
    `subresource="status"`, where only status is. Raises UnknownKind for a kind without a schema.
    The result shares all but its metadata with `new`: copy it before changing it deeper.
    """
    # Only metadata.managedFields changes: the result shares everything else with `new` (the
    # server's own fresh object, not kept by the caller), rather than copying it whole.
    result = dict(new)
    if isinstance(result.get("metadata"), dict):
        result["metadata"] = dict(result["metadata"])
    root = _root(registry, new)
    given = (new.get("metadata") or {}).get("managedFields")
    previous = ((old or {}).get("metadata") or {}).get("managedFields")
    # Like kube-apiserver: managedFields sent with the write replace the live ones (`[{}]` clears
    # them); none sent, or unreadable ones, keep the live ones.
    base = given if given else previous
    try:
        managers = _decode(base)
    except ValueError:
        base, managers = previous, _decode(previous)
    before, after = _without_managed_fields(old or {}), _without_managed_fields(new)
    if subresource == "status":  # only changes of status count (`_owned`): compare it alone
        before, after = _status_only(before), _status_only(after)
    comparison = typed.compare(before, after, root, creating=old is None)
    changed = _owned(comparison.changed(), subresource)
    removed = _owned(comparison.removed, subresource)
    mine = Manager(manager, "Update", subresource or "", str(new.get("apiVersion", "")))
    prior = managers.get(mine)
    before_write = prior.fields if prior else None
    for entry in managers.values():
        entry.fields = entry.fields.difference(changed).difference(removed)
    if not changed.empty():
        # The writer's fields less what it took from itself, plus what it changed: the same
        # paths as (fields - changed - removed) + changed, but its very set again when the write
        # adds nothing to it and removes nothing of it, so its `fieldsV1` is written once.
        fields = (
            before_write.difference(removed).union(changed) if before_write is not None else changed
        )
        managers[mine] = _Entry(fields, mine.api_version, now)
    managers = {m: e for m, e in managers.items() if not e.fields.empty()}
    if len(managers) == len(base or []) and all(e.unchanged() for e in managers.values()):
        return _with_managed_fields(result, list(base or []))
    return _with_managed_fields(result, _encode(managers))
