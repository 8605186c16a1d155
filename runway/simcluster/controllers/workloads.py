"""kube-controller-manager's workload controllers: Deployment -> ReplicaSet -> Pods.

Both controllers are level-triggered: a change marks an object dirty, and one pass a little later
reconciles it from the store as it is then (many pod changes cost one pass). Every write goes
through `cluster.objects` with the field manager `kube-controller-manager`, status writes through
the status subresource, so watches, resourceVersions and managedFields stay real.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runway.simcluster.bodies import Decoded
from runway.simcluster.catalogue import ResourceType
from runway.simcluster.controllers import CONTROLLERS, Controller
from runway.simcluster.controllers.events import record, similar
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


def owned_by(uid: str, obj: Object) -> bool:
    reference = controller_of(obj)
    return reference is not None and reference.get("uid") == uid


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
    return [p for p in cluster.store.items(PODS, namespace) if owned_by(uid, p)]


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

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__(cluster)
        self._dirty: set[Key] = set()
        self._scheduled = False
        self.rt = cluster.catalogue.by_key(self.resource)
        self._generations: dict[str, Any] = {}
        self._backoff: dict[str, tuple[float, float]] = {}  # uid -> (delay, not before)

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
        opts = WriteOptions(manager=MANAGER)
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
            metadata["annotations"] = copy.deepcopy(meta["annotations"])
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        pods = self.cluster.catalogue.by_key(PODS)
        return self.create(pods, owner["metadata"].get("namespace", ""), body)


def write_status(
    cluster: SimCluster, rt: ResourceType, obj: Object, status: dict[str, Any], manager: str
) -> Object | None:
    body = copy.deepcopy(obj)
    body["status"] = copy.deepcopy(status)
    meta = obj["metadata"]
    try:
        written = cluster.objects.replace(
            rt,
            meta.get("namespace", ""),
            meta["name"],
            Decoded(body),
            "status",
            WriteOptions(manager=manager),
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


class ReplicaSetController(Workload):
    """Keeps `spec.replicas` pods of each ReplicaSet; its status counts them."""

    resource = REPLICASETS
    watches = (REPLICASETS, PODS)

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__(cluster)
        # When each pod was first seen ready: timestamps in status have whole seconds only, too
        # coarse for minReadySeconds.
        self._ready: dict[str, float] = {}

    def changed(self, change: Change) -> None:
        if change.resource == PODS:
            uid = change.obj["metadata"]["uid"]
            if change.type != "DELETED" and is_ready(change.obj):
                self._ready.setdefault(uid, time.time())
            else:
                self._ready.pop(uid, None)
            self.mark_owner(change.obj, "ReplicaSet")
            return
        meta = change.obj["metadata"]
        if self.spec_changed(change):
            self.mark(meta.get("namespace", ""), meta["name"])

    def _create_pods(self, rs: Object, missing: int, pods: list[Object]) -> str | None:
        """Create up to `missing` pods (at most BATCH_CAP in this pass) in slow-start batches
        of 1, 2, 4, ... as the real controller does; the refusal that stopped it, if any."""
        meta, spec = rs["metadata"], rs.get("spec") or {}
        todo = min(missing, BATCH_CAP)
        batch = 1
        began = time.monotonic()
        while todo > 0 and time.monotonic() - began < PASS_BUDGET:
            for _ in range(min(batch, todo)):
                try:
                    pods.append(
                        self.create_pod(
                            rs,
                            "apps/v1",
                            spec.get("template"),
                            {"metadata": {"generateName": f"{meta['name']}-"}},
                        )
                    )
                except ApiError as error:
                    return error.message
                todo -= 1
            batch *= 2
        return None

    def sync(self, rs: Object) -> None:
        meta, spec = rs["metadata"], rs.get("spec") or {}
        namespace, uid = meta.get("namespace", ""), meta["uid"]
        wanted = int(spec.get("replicas", 1) or 0)
        pods = [p for p in pods_of(self.cluster, namespace, uid) if is_active(p)]
        status = copy.deepcopy(rs.get("status") or {})
        conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
        failure: str | None = None
        if len(pods) < wanted and not self.waiting(uid):
            failure = self._create_pods(rs, wanted - len(pods), pods)
            if failure is not None:
                self.refused(namespace, meta["name"], uid)
            else:
                self.accepted(uid)
                if len(pods) < wanted:  # the rest next pass: the API server answers meanwhile
                    self.mark(namespace, meta["name"], NEXT_PASS)
        elif len(pods) > wanted:
            # Not ready ones first, then the newest, like the real controller's ranking.
            doomed = [p for p in pods if not is_ready(p)]
            doomed += sorted(
                (p for p in pods if is_ready(p)),
                key=lambda p: p["metadata"].get("creationTimestamp", ""),
                reverse=True,
            )
            pods_rt = self.cluster.catalogue.by_key(PODS)
            gone = {id(p) for p in doomed[: len(pods) - wanted]}
            for pod in doomed[: len(pods) - wanted]:
                self.delete(pods_rt, pod)
            pods = [p for p in pods if id(p) not in gone]
        now = self.cluster.objects.now()
        if failure is not None:
            message = f"Error creating: {failure}"
            record(self.cluster, rs, "Warning", "FailedCreate", message, key=similar(message))
            known = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
            if known is not None and similar(str(known.get("message"))) == similar(failure):
                failure = str(known.get("message"))  # the same refusal of another pod name
            set_condition(
                conditions,
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": now,
                    "reason": "FailedCreate",
                    "message": failure,
                },
            )
        elif len(pods) >= wanted:
            drop_condition(conditions, "ReplicaFailure")
        min_ready = int(spec.get("minReadySeconds", 0) or 0)
        ready = available = 0
        clock = time.time()
        wake: float | None = None
        for pod in pods:
            since = ready_since(pod)
            if since is None:
                continue
            since = max(since, self._ready.get(pod["metadata"]["uid"], since))
            ready += 1
            if clock - since >= min_ready:
                available += 1
            else:
                left = min_ready - (clock - since)
                wake = left if wake is None else min(wake, left)
        if wake is not None:
            self.mark(namespace, meta["name"], wake + 0.05)
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        labelled = sum(
            1
            for p in pods
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        )
        new_status = compact(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": labelled,
                "readyReplicas": ready,
                "availableReplicas": available,
                "observedGeneration": meta.get("generation", 1),
                "conditions": conditions,
            },
            "replicas",
            "observedGeneration",
        )
        self.write_status(rs, new_status)


# -- Deployment --------------------------------------------------------------------------------


class DeploymentController(Workload):
    """Rolls Deployments out through ReplicaSets (RollingUpdate and Recreate)."""

    resource = DEPLOYMENTS
    watches = (DEPLOYMENTS, REPLICASETS)

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__(cluster)
        self._deadlines: dict[str, float] = {}  # deployment uid -> when a deadline check is due

    def changed(self, change: Change) -> None:
        if change.resource == REPLICASETS:
            self.mark_owner(change.obj, "Deployment")
            return
        meta = change.obj["metadata"]
        if change.type == "DELETED":
            self._deadlines.pop(meta["uid"], None)
        if self.spec_changed(change):
            self.mark(meta.get("namespace", ""), meta["name"])

    def sync(self, deployment: Object) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        namespace, uid = meta.get("namespace", ""), meta["uid"]
        replicasets_rt = self.cluster.catalogue.by_key(REPLICASETS)
        owned = [rs for rs in self.cluster.store.items(REPLICASETS, namespace) if owned_by(uid, rs)]
        template = copy.deepcopy(spec.get("template") or {})
        digest = template_hash(template)
        new = next(
            (rs for rs in owned if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == digest),
            None,
        )
        old = [rs for rs in owned if rs is not new]
        wanted = int(spec.get("replicas", 1) or 0)
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        surge = scaled(rolling.get("maxSurge", "25%"), wanted, round_up=True)
        unavailable = scaled(rolling.get("maxUnavailable", "25%"), wanted, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        if strategy.get("type") == "Recreate":
            surge, unavailable = 0, wanted
        created = False
        if new is None and not spec.get("paused"):
            new = self._create_replicaset(deployment, template, digest, owned, wanted, strategy)
            created = new is not None
        if new is not None and not spec.get("paused"):
            new, old = self._scale(new, old, wanted, surge, unavailable, strategy, replicasets_rt)
            old = self._prune(old, int(spec.get("revisionHistoryLimit", 10)), replicasets_rt)
        self._status(deployment, new, old, wanted, unavailable, created)

    def _create_replicaset(
        self,
        deployment: Object,
        template: dict[str, Any],
        digest: str,
        owned: list[Object],
        wanted: int,
        strategy: dict[str, Any],
    ) -> Object | None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        revisions = [
            int(str((rs["metadata"].get("annotations") or {}).get(REVISION, "0")) or 0)
            for rs in owned
        ]
        labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: digest}
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = digest
        running = any(int((rs.get("spec") or {}).get("replicas", 0) or 0) for rs in owned)
        replicas = 0 if running or strategy.get("type") == "Recreate" else wanted
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{digest}",
                "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(wanted),
                    "deployment.kubernetes.io/max-replicas": str(wanted),
                    REVISION: str(max(revisions, default=0) + 1),
                },
                "ownerReferences": [owner_reference(deployment, "apps/v1")],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": int(spec.get("minReadySeconds", 0) or 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            return self.create(
                self.cluster.catalogue.by_key(REPLICASETS), meta.get("namespace", ""), body
            )
        except ApiError as error:
            log.info("runway-sim (simulated): replica set for %s: %s", meta["name"], error.message)
            return None

    def _scale(
        self,
        new: Object,
        old: list[Object],
        wanted: int,
        surge: int,
        unavailable: int,
        strategy: dict[str, Any],
        rt: ResourceType,
    ) -> tuple[Object, list[Object]]:
        def replicas(rs: Object) -> int:
            return int((rs.get("spec") or {}).get("replicas", 0) or 0)

        def count(rs: Object, field: str) -> int:
            return int((rs.get("status") or {}).get(field, 0) or 0)

        def resize(rs: Object, to: int) -> Object:
            if replicas(rs) == to:
                return rs
            body = copy.deepcopy(rs)
            body["spec"]["replicas"] = to
            annotations = body["metadata"].setdefault("annotations", {})
            annotations["deployment.kubernetes.io/desired-replicas"] = str(wanted)
            annotations["deployment.kubernetes.io/max-replicas"] = str(wanted + surge)
            return self.replace(rt, body) or rs

        if strategy.get("type") == "Recreate":
            old = [resize(rs, 0) for rs in old]
            if any(count(rs, "replicas") for rs in old):
                return new, old  # the old pods must be gone before new ones start
            return resize(new, wanted), old
        # RollingUpdate: the new set grows within maxSurge ...
        total = replicas(new) + sum(replicas(rs) for rs in old)
        if replicas(new) > wanted:
            new = resize(new, wanted)
        elif replicas(new) < wanted and total < wanted + surge:
            new = resize(new, replicas(new) + min(wanted + surge - total, wanted - replicas(new)))
        # ... and old ones shrink as long as maxUnavailable allows.
        if not any(replicas(rs) for rs in old):
            return new, old
        total = replicas(new) + sum(replicas(rs) for rs in old)
        minimum = wanted - unavailable
        new_unavailable = replicas(new) - count(new, "availableReplicas")
        room = total - minimum - new_unavailable
        result: list[Object] = []
        if room > 0:
            for rs in sorted(old, key=lambda r: r["metadata"].get("creationTimestamp", "")):
                unhealthy = replicas(rs) - count(rs, "availableReplicas")
                cut = min(max(unhealthy, 0), room)
                if cut > 0:
                    rs = resize(rs, replicas(rs) - cut)
                    room -= cut
                result.append(rs)
            old = result
            available = count(new, "availableReplicas") + sum(
                count(rs, "availableReplicas") for rs in old
            )
            # Unhealthy ones already cut; the rest only as far as availability allows.
            room = available - minimum
            result = []
            for rs in sorted(old, key=lambda r: r["metadata"].get("creationTimestamp", "")):
                cut = min(replicas(rs), max(room, 0))
                if cut > 0:
                    rs = resize(rs, replicas(rs) - cut)
                    room -= cut
                result.append(rs)
            old = result
        return new, old

    def _prune(self, old: list[Object], limit: int, rt: ResourceType) -> list[Object]:
        """Old ReplicaSets past `revisionHistoryLimit` go, oldest revision first, once empty."""

        def revision(rs: Object) -> int:
            value = str((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
            return int(value) if value.isdigit() else 0

        idle = [
            rs
            for rs in old
            if not (rs.get("spec") or {}).get("replicas")
            and not (rs.get("status") or {}).get("replicas")
        ]
        doomed = sorted(idle, key=revision)[: max(len(idle) - max(limit, 0), 0)]
        for rs in doomed:
            self.delete(rt, rs)
        gone = {id(rs) for rs in doomed}
        return [rs for rs in old if id(rs) not in gone]

    def _status(
        self,
        deployment: Object,
        new: Object | None,
        old: list[Object],
        wanted: int,
        unavailable: int,
        created: bool,
    ) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        every = ([new] if new is not None else []) + old

        def total(field: str, sets: list[Object]) -> int:
            return sum(int((rs.get("status") or {}).get(field, 0) or 0) for rs in sets)

        specified = sum(int((rs.get("spec") or {}).get("replicas", 0) or 0) for rs in every)
        available = total("availableReplicas", every)
        previous = deployment.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": total("replicas", every),
            "updatedReplicas": total("replicas", [new] if new is not None else []),
            "readyReplicas": total("readyReplicas", every),
            "availableReplicas": available,
            "unavailableReplicas": max(specified - available, 0),
        }
        now = self.cluster.objects.now()
        conditions: list[dict[str, Any]] = copy.deepcopy(previous.get("conditions") or [])
        if available >= wanted - unavailable:
            set_condition(
                conditions,
                condition(
                    "Available", "True", "MinimumReplicasAvailable",
                    "Deployment has minimum availability.", now,
                ),
            )  # fmt: skip
        else:
            set_condition(
                conditions,
                condition(
                    "Available", "False", "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.", now,
                ),
            )  # fmt: skip
        deadline = spec.get("progressDeadlineSeconds")
        rs_name = new["metadata"]["name"] if new is not None else meta["name"]
        complete = (
            new is not None
            and status["updatedReplicas"] == wanted
            and status["replicas"] == wanted
            and available == wanted
        )
        progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
        if spec.get("paused"):
            set_condition(
                conditions,
                condition(
                    "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now
                ),
            )
        elif complete:
            set_condition(
                conditions,
                condition(
                    "Progressing", "True", "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.', now,
                ),
            )  # fmt: skip
            self._deadlines.pop(meta["uid"], None)
        elif created:
            set_condition(
                conditions,
                condition(
                    "Progressing", "True", "NewReplicaSetCreated",
                    f'Created new replica set "{rs_name}"', now,
                ),
            )  # fmt: skip
        elif (
            _progressed(previous, status)
            or progressing is None
            or (progressing.get("reason") == "NewReplicaSetAvailable")
        ):
            set_condition(
                conditions,
                condition(
                    "Progressing", "True", "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.', now,
                ),
            )  # fmt: skip
            # Progress: a fresh update time (the deadline counts from here).
            for c in conditions:
                if c.get("type") == "Progressing":
                    c["lastUpdateTime"] = now
        if not complete and deadline is not None and not spec.get("paused"):
            current = next((c for c in conditions if c.get("type") == "Progressing"), None)
            since = parse_time((current or {}).get("lastUpdateTime")) or time.time()
            overdue = time.time() - since - int(deadline)
            if current is not None and current.get("reason") != "ProgressDeadlineExceeded":
                if overdue >= 0:
                    set_condition(
                        conditions,
                        condition(
                            "Progressing", "False", "ProgressDeadlineExceeded",
                            f'ReplicaSet "{rs_name}" has timed out progressing.', now,
                        ),
                    )  # fmt: skip
                else:
                    self._check_deadline(deployment, -overdue + 0.05)
        failure = None
        for rs in every:
            for rs_condition in (rs.get("status") or {}).get("conditions") or ():
                if rs_condition.get("type") == "ReplicaFailure":
                    failure = rs_condition
        if failure is not None:
            set_condition(
                conditions,
                condition(
                    "ReplicaFailure",
                    "True",
                    str(failure.get("reason", "FailedCreate")),
                    str(failure.get("message", "")),
                    now,
                ),
            )
        else:
            drop_condition(conditions, "ReplicaFailure")
        order = {"Available": 0, "Progressing": 1, "ReplicaFailure": 2}
        conditions.sort(key=lambda c: order.get(str(c.get("type")), 3))
        status["conditions"] = conditions
        if previous.get("collisionCount") is not None:
            status["collisionCount"] = previous["collisionCount"]
        self.write_status(deployment, compact(status, "observedGeneration"))

    def _check_deadline(self, deployment: Object, delay: float) -> None:
        uid = deployment["metadata"]["uid"]
        due = time.monotonic() + delay
        if uid in self._deadlines and self._deadlines[uid] <= due + 0.5:
            return
        self._deadlines[uid] = due
        meta = deployment["metadata"]
        action: Callable[[], None] = lambda: self._deadline_due(uid, meta)  # noqa: E731
        self.later(delay, action)

    def _deadline_due(self, uid: str, meta: dict[str, Any]) -> None:
        self._deadlines.pop(uid, None)
        self.mark(meta.get("namespace", ""), meta["name"])


def _progressed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """More updated, ready or available replicas, or fewer old ones: the rollout moved."""
    for field in ("updatedReplicas", "readyReplicas", "availableReplicas"):
        if int(after.get(field, 0) or 0) > int(before.get(field, 0) or 0):
            return True
    old_before = int(before.get("replicas", 0) or 0) - int(before.get("updatedReplicas", 0) or 0)
    old_after = int(after.get("replicas", 0) or 0) - int(after.get("updatedReplicas", 0) or 0)
    return old_after < old_before


CONTROLLERS.extend([DeploymentController, ReplicaSetController])
