"""The shape of stored objects: key order, what counts as a change, generation, generated fields."""

from __future__ import annotations

import json
from typing import Any

from runway.simcluster import typed
from runway.simcluster.catalogue import Generation, ResourceType
from runway.simcluster.errors import Object

_META_ORDER = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip


def job_selector(obj: Object) -> None:
    """Jobs get a selector and pod labels generated from their uid (unless manualSelector)."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    metadata = obj["metadata"]
    uid, name = metadata["uid"], metadata["name"]
    template = spec.setdefault("template", {})
    if not isinstance(template, dict):
        return
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    for key, value in (
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("job-name", name),
    ):
        labels.setdefault(key, value)
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}


def generation_moves(rt: ResourceType, live: Object, new: Object) -> bool:
    if rt.generation is Generation.SPEC:
        return not typed.same(live.get("spec"), new.get("spec"))
    skip = ("metadata", "status")
    before = {k: v for k, v in live.items() if k not in skip}
    after = {k: v for k, v in new.items() if k not in skip}
    return not typed.same(before, after)


def _comparable(obj: Object) -> Object:
    metadata = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    if isinstance(metadata.get("managedFields"), list):
        metadata["managedFields"] = [
            {k: v for k, v in entry.items() if k != "time"} if isinstance(entry, dict) else entry
            for entry in metadata["managedFields"]
        ]
    return {**obj, "metadata": metadata}


def same(live: Object, new: Object) -> bool:
    """A write that changes nothing but managedFields timestamps is not a write."""
    return typed.same(_comparable(live), _comparable(new))


def ordered(obj: Object, *, stored: bool = True) -> Object:
    """Keys in the order a real server serializes them: kind, apiVersion, metadata, ..., status."""
    metadata = obj["metadata"]
    if stored:
        metadata.setdefault("resourceVersion", "")
    ordered_meta = {k: metadata[k] for k in _META_ORDER if k in metadata}
    ordered_meta.update((k, v) for k, v in metadata.items() if k not in ordered_meta)
    result: Object = {
        "kind": obj["kind"],
        "apiVersion": obj["apiVersion"],
        "metadata": ordered_meta,
    }
    result.update((k, v) for k, v in obj.items() if k not in result and k != "status")
    if "status" in obj:
        result["status"] = obj["status"]
    return result


def go_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
