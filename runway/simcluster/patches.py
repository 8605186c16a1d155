"""The three non-apply patch types: JSON merge patch, JSON patch and strategic merge patch.

Strategic merge is kubernetes-asyncio's default for a dict body (and what kubectl sends for
`label`, `scale` and `rollout restart`), so it is served for the lists runway's objects have:
keyed lists merge by their `patchMergeKey`, `finalizers` merges as a set, other lists are replaced.
"""

from __future__ import annotations

import re
from typing import Any

from runway.simcluster.clone import clone
from runway.simcluster.errors import ApiError, BadRequest, Object

# patchMergeKey of the keyed lists in the kinds served (by field name; `ports` depends on where).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "secrets": "name",
}
_SET_LISTS = {"finalizers"}


class PatchFailed(ApiError):
    """A JSON patch operation that does not apply to the object (422, as a real server says)."""

    code, reason = 422, "Invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Object, patch: Object) -> Object:
    merged = _smp_map(target, patch)
    return merged if merged is not None else {}


def _smp_map(target: Object, patch: Object) -> Object | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        cleaned: Object = _clean(patch)
        return cleaned
    result = dict(target)
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [x for x in result.get(name) or [] if x not in value]
        elif key.startswith("$"):
            continue  # $patch, $retainKeys, $setElementOrder/...: handled around the loop
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            inner = _smp_map(result[key] if isinstance(result.get(key), dict) else {}, value)
            if inner is None:
                result.pop(key, None)
            else:
                result[key] = inner
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _smp_list(key, result[key], value)
        else:
            result[key] = _clean(value)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") and isinstance(value, list):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = _reorder(name, result[name], value)
    return result


def _merge_key(name: str, items: list[Any]) -> str | None:
    if name == "ports":
        return "containerPort" if any("containerPort" in i for i in items) else "port"
    return _MERGE_KEYS.get(name)


def _smp_list(name: str, target: list[Any], patch: list[Any]) -> list[Any]:
    if name in _SET_LISTS:
        return list(target) + [x for x in patch if x not in target]
    key = _merge_key(name, [*target, *patch] if all(isinstance(i, dict) for i in patch) else [])
    if key is None or not all(isinstance(i, dict) for i in patch):
        return _clean(patch)  # type: ignore[no-any-return]
    if any(i.get("$patch") == "replace" for i in patch):
        return [_clean(i) for i in patch if i.get("$patch") != "replace"]
    result = list(target)
    for item in patch:
        found = next(
            (
                n
                for n, e in enumerate(result)
                if isinstance(e, dict) and e.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            result = [
                e for e in result if not (isinstance(e, dict) and e.get(key) == item.get(key))
            ]
        elif found is None:
            result.append(_clean(item))
        else:
            merged = _smp_map(result[found], item)
            if merged is not None:
                result[found] = merged
    return result


def _reorder(name: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = _merge_key(name, [i for i in items if isinstance(i, dict)])
    wanted = [o.get(key) if isinstance(o, dict) and key else o for o in order]

    def position(item: Any) -> int:
        value = item.get(key) if isinstance(item, dict) and key else item
        return wanted.index(value) if value in wanted else len(wanted)

    return sorted(items, key=position)


def _clean(value: Any) -> Any:
    """Drop patch directives from a value being set as a whole."""
    if isinstance(value, dict):
        return {
            k: _clean(v)
            for k, v in value.items()
            if not k.startswith(("$patch", "$retainKeys", "$set"))
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def json_patch(target: Object, operations: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    document: Any = clone(target)
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise BadRequest("invalid JSON patch operation: missing path")
        op, path = operation.get("op"), operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchFailed(f"{op} operation does not apply: missing value")
        if op == "test":
            if _get(document, path) != operation["value"]:
                raise PatchFailed(f"testing value {path} failed: test failed")
        elif op == "remove":
            document = _remove(document, path)
        elif op == "add":
            document = _add(document, path, clone(operation["value"]))
        elif op == "replace":
            _get(document, path)
            document = _add(_remove(document, path), path, clone(operation["value"]))
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise BadRequest(f"invalid JSON patch operation: {op} without from")
            value = clone(_get(document, source))
            if op == "move":
                document = _remove(document, source)
            document = _add(document, path, value)
        else:
            raise BadRequest(f"Unexpected kind: {op}")
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchFailed(f"invalid JSON pointer: {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(document: Any, path: str) -> tuple[Any, str]:
    parts = _pointer(path)
    if not parts:
        raise PatchFailed(f"invalid JSON pointer: {path!r}")
    node = document
    for part in parts[:-1]:
        node = _step(node, part, path)
    return node, parts[-1]


def _step(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and _index(part) < len(node):
        return node[_index(part)]
    raise PatchFailed(f"doc is missing path: {path}: missing value")


def _index(part: str) -> int:
    """A JSON pointer's array index (ASCII digits only: str.isdigit() also accepts '²'); -1 if
    it is not one."""
    return int(part) if re.fullmatch(r"[0-9]+", part) else -1


def _get(document: Any, path: str) -> Any:
    node = document
    for part in _pointer(path):
        node = _step(node, part, path)
    return node


def _add(document: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent, last = _parent(document, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else _index(last)
        if not 0 <= index <= len(parent):
            raise PatchFailed(f"add operation does not apply: doc is missing path: {path}")
        parent.insert(index, value)
    else:
        raise PatchFailed(f"add operation does not apply: doc is missing path: {path}")
    return document


def _remove(document: Any, path: str) -> Any:
    parent, last = _parent(document, path)
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and 0 <= _index(last) < len(parent):
        del parent[_index(last)]
    else:
        raise PatchFailed(f"remove operation does not apply: doc is missing path: {path}")
    return document
