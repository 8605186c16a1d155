"""What kube-controller-manager's workload controllers share (Deployment -> ReplicaSet -> Pods:
`deployments.py`, `replicasets.py`; also used by Jobs and StatefulSets): owner references,
conditions, pod readiness, and the level-triggered `Workload` base.

The controllers are level-triggered: a change marks an object dirty, and one pass a little later
reconciles it from the store as it is then (many pod changes cost one pass). Every write goes
through `cluster.objects` with the field manager `kube-controller-manager`, status writes through
the status subresource, so watches, resourceVersions and managedFields stay real.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runway.simcluster.bodies import Decoded
from runway.simcluster.catalogue import ResourceType
from runway.simcluster.clone import clone
from runway.simcluster.controllers import Controller
from runway.simcluster.deletion import DeleteOptions
from runway.simcluster.errors import ApiError, NotFound, Object
from runway.simcluster.objects import WriteOptions
from runway.simcluster.store import Change

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

log = logging.getLogger("runway.simcluster")

MANAGER = "kube-controller-manager"
PODS = "/pods"
DEPLOYMENTS = "apps/deployments"
REPLICASETS = "apps/replicasets"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"

Key = tuple[str, str]

RETRY_FIRST = 1.0
"""Seconds before a refused creation is tried again (doubling each time it is refused again)."""
RETRY_CAP = 30.0
BATCH_CAP = 500
"""At most this many pods are created in one pass (in slow-start batches of 1, 2, 4, ...); the
rest come in later passes, so that the API server answers meanwhile."""
NEXT_PASS = 0.02
"""Seconds between two passes of a large scale-up (the API server answers in between)."""
PASS_BUDGET = 0.02
"""Seconds of pod creations one pass may take before it leaves the rest to the next."""


# -- helpers the workload controllers share ----------------------------------------------------


def template_hash(template: Any) -> str:
    """A short, stable hash of a pod template (what `pod-template-hash` holds)."""
    digest = hashlib.sha256(_canonical(template).encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    out = []
    for _ in range(10):
        number, rest = divmod(number, len(_SAFE))
        out.append(_SAFE[rest])
    return "".join(out)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def controller_of(obj: Object) -> dict[str, Any] | None:
    """The ownerReference marked `controller: true`, if any."""
    for reference in obj["metadata"].get("ownerReferences") or ():
        if isinstance(reference, dict) and reference.get("controller") is True:
            return reference
    return None


def owner_reference(owner: Object, api_version: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp, or None."""
    if not isinstance(value, str):
        return None
    return _parse_time(value)


@functools.lru_cache(maxsize=4096)
def _parse_time(value: str) -> float | None:
    # Cached: a pass over thousands of pods reads the same few whole-second timestamps.
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def is_active(pod: Object) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return not pod["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def pod_condition(pod: Object, kind: str) -> dict[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def is_ready(pod: Object) -> bool:
    condition = pod_condition(pod, "Ready")
    return is_active(pod) and condition is not None and condition.get("status") == "True"


def ready_since(pod: Object) -> float | None:
    """When the pod became ready (seconds since the epoch), or None when it is not ready."""
    if not is_ready(pod):
        return None
    condition = pod_condition(pod, "Ready") or {}
    return parse_time(condition.get("lastTransitionTime")) or time.time()


def pods_of(cluster: SimCluster, namespace: str, uid: str) -> list[Object]:
    """The pods in a namespace whose controller is `uid`, in name order."""
    return cluster.store.owned(PODS, namespace, uid)


def condition(kind: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def set_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> None:
    """Put a condition in place of the one of its type, keeping times when nothing changed."""
    for index, old in enumerate(conditions):
        if old.get("type") != new["type"]:
            continue
        if old.get("status") == new["status"]:
            new["lastTransitionTime"] = old.get("lastTransitionTime", new["lastTransitionTime"])
            same = old.get("reason") == new.get("reason") and old.get("message") == new.get(
                "message"
            )
            if same and "lastUpdateTime" in new:
                new["lastUpdateTime"] = old.get("lastUpdateTime", new["lastUpdateTime"])
        conditions[index] = new
        return
    conditions.append(new)


def drop_condition(conditions: list[dict[str, Any]], kind: str) -> None:
    conditions[:] = [c for c in conditions if c.get("type") != kind]


def compact(status: dict[str, Any], *keep: str) -> dict[str, Any]:
    """A status as Go serialises it: zero counts are left out (omitempty), except `keep`."""
    return {k: v for k, v in status.items() if k in keep or v not in (0, None, [], {})}


class Workload(Controller):
    """A controller that reconciles objects of one resource, coalescing changes into passes."""

    resource = ""
    owner_kind = ""
    """The kind of `resource`: a change of an object it owns (its pods) marks the owner."""

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__(cluster)
        self._dirty: set[Key] = set()
        self._scheduled = False
        self.rt = cluster.catalogue.by_key(self.resource)
        self._generations: dict[str, Any] = {}
        self._backoff: dict[str, tuple[float, float]] = {}  # uid -> (delay, not before)

    def changed(self, change: Change) -> None:
        """A change of an owned object marks its owner; a change of one of ours that is more
        than a status write marks it, if `handles` it."""
        if change.resource != self.resource:
            self.mark_owner(change.obj, self.owner_kind)
            return
        meta = change.obj["metadata"]
        if self.spec_changed(change) and self.handles(change.obj):
            self.mark(meta.get("namespace", ""), meta["name"])

    def handles(self, obj: Object) -> bool:
        """Whether this controller reconciles `obj` (all of its resource, unless said)."""
        return True

    def spec_changed(self, change: Change) -> bool:
        """Whether a change of an object of `resource` is more than a status write (a new
        object, a new generation, or deletion starting); the controller's own status writes
        must not wake it again."""
        meta = change.obj["metadata"]
        uid = meta["uid"]
        if change.type == "DELETED":
            self._generations.pop(uid, None)
            self._backoff.pop(uid, None)
            return False
        seen = (meta.get("generation"), meta.get("deletionTimestamp"), meta.get("labels"))
        if change.type == "MODIFIED" and self._generations.get(uid) == seen:
            return False
        self._generations[uid] = seen
        return True

    # -- refused creations: a back-off per object ------------------------------------------------

    def waiting(self, uid: str) -> float:
        """Seconds before a refused creation may be tried again for this object (0: now)."""
        backoff = self._backoff.get(uid)
        return 0.0 if backoff is None else max(backoff[1] - time.monotonic(), 0.0)

    def refused(self, namespace: str, name: str, uid: str) -> None:
        """A creation was refused: try again after 1 s, doubling up to 30 s while it is."""
        delay = min(self._backoff[uid][0] * 2, RETRY_CAP) if uid in self._backoff else RETRY_FIRST
        self._backoff[uid] = (delay, time.monotonic() + delay)
        self.mark(namespace, name, delay)

    def accepted(self, uid: str) -> None:
        """Creations go through again: the back-off starts over."""
        self._backoff.pop(uid, None)

    def mark(self, namespace: str, name: str, delay: float = 0.0) -> None:
        if delay > 0:
            self.later(delay, lambda: self.mark(namespace, name))
            return
        self._dirty.add((namespace, name))
        if not self._scheduled:
            self._scheduled = True
            self.later(0, self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        for namespace, name in sorted(dirty):
            obj = self.cluster.store.get(self.resource, namespace, name)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                continue
            try:
                self.sync(obj)
            except Exception:
                log.exception(
                    "runway-sim (simulated): %s failed on %s/%s",
                    type(self).__name__,
                    namespace,
                    name,
                )

    def mark_owner(self, obj: Object, kind: str) -> None:
        reference = controller_of(obj)
        if reference is not None and reference.get("kind") == kind:
            self.mark(obj["metadata"].get("namespace", ""), str(reference.get("name")))

    def sync(self, obj: Object) -> None:
        raise NotImplementedError

    # -- writes --------------------------------------------------------------------------------

    def write_status(self, obj: Object, status: dict[str, Any]) -> Object | None:
        """Write `status` through the status subresource unless it is what is stored."""
        if obj.get("status") == status:
            return obj
        return write_status(self.cluster, self.rt, obj, status, MANAGER)

    def create(self, rt: ResourceType, namespace: str, body: Object) -> Object:
        opts = WriteOptions(manager=MANAGER, trusted=True)  # made from decoded objects
        return self.cluster.objects.create(rt, namespace, Decoded(body), opts).obj

    def replace(self, rt: ResourceType, obj: Object) -> Object | None:
        meta = obj["metadata"]
        try:
            written = self.cluster.objects.replace(
                rt,
                meta.get("namespace", ""),
                meta["name"],
                Decoded(obj),
                None,
                WriteOptions(manager=MANAGER),
            )
        except ApiError as error:
            log.info("runway-sim (simulated): %s: %s", type(self).__name__, error.message)
            return None
        return written.obj

    def delete(self, rt: ResourceType, obj: Object) -> None:
        meta = obj["metadata"]
        with contextlib.suppress(NotFound):
            self.cluster.lifecycle.delete(
                rt, meta.get("namespace", ""), meta["name"], DeleteOptions("Background")
            )

    def create_pod(
        self, owner: Object, api_version: str, template: Any, extra: dict[str, Any]
    ) -> Object:
        """Create a pod from a template (refusals, quota say, raise ApiError)."""
        template = template if isinstance(template, dict) else {}
        meta = template.get("metadata") or {}
        metadata: dict[str, Any] = {
            **extra.pop("metadata", {}),
            "labels": {**(meta.get("labels") or {}), **extra.pop("labels", {})},
            "ownerReferences": [owner_reference(owner, api_version)],
        }
        if meta.get("annotations"):
            metadata["annotations"] = clone(meta["annotations"])
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": clone(template.get("spec") or {}),
        }
        pods = self.cluster.catalogue.by_key(PODS)
        return self.create(pods, owner["metadata"].get("namespace", ""), body)


def status_body(obj: Object, status: dict[str, Any]) -> Object:
    """What a controller PUTs to an object's status subresource: the stored object with the new
    status, as a real controller sends it, less what a status write cannot change and the
    stored object has already passed decoding with (spec and the rest; a status write keeps
    the live object's). Its managedFields are left out too: a write without them keeps the
    live ones. So a write decodes and copies its status and metadata alone."""
    body: Object = {k: obj[k] for k in ("apiVersion", "kind") if k in obj}
    body["metadata"] = {k: clone(v) for k, v in obj["metadata"].items() if k != "managedFields"}
    body["status"] = clone(status)
    return body


def write_status(
    cluster: SimCluster, rt: ResourceType, obj: Object, status: dict[str, Any], manager: str
) -> Object | None:
    body = status_body(obj, status)
    meta = obj["metadata"]
    try:
        written = cluster.objects.replace(
            rt,
            meta.get("namespace", ""),
            meta["name"],
            Decoded(body),
            "status",
            WriteOptions(manager=manager, trusted=True),  # the controller's own status
        )
    except ApiError as error:
        log.info(
            "runway-sim (simulated): status of %s %s: %s", rt.kind, meta["name"], error.message
        )
        return None
    return written.obj


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString (`3`, `"25%"`) against a total, as the deployment controller reads it."""
    if isinstance(value, int):
        return value
    text = str(value or "0")
    if text.endswith("%"):
        try:
            percent = int(text[:-1])
        except ValueError:
            return 0
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    try:
        return int(text)
    except ValueError:
        return 0


# -- ReplicaSet --------------------------------------------------------------------------------
