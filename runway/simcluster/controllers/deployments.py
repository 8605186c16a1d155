"""kube-controller-manager's Deployment controller: ReplicaSets per pod template, rollouts by
strategy, and the status and conditions kubectl's rollout status reads."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runway.simcluster.catalogue import ResourceType
from runway.simcluster.clone import clone
from runway.simcluster.controllers import CONTROLLERS
from runway.simcluster.errors import ApiError, Object
from runway.simcluster.store import Change

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

from runway.simcluster.controllers.workloads import (
    DEPLOYMENTS,
    HASH_LABEL,
    REPLICASETS,
    REVISION,
    Workload,
    compact,
    condition,
    drop_condition,
    owner_reference,
    parse_time,
    scaled,
    set_condition,
    template_hash,
)

log = logging.getLogger("runway.simcluster")


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
        owned = self.cluster.store.owned(REPLICASETS, namespace, uid)
        template = clone(spec.get("template") or {})
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
        selector = clone(spec.get("selector") or {})
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
            body = clone(rs)
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
        conditions: list[dict[str, Any]] = clone(previous.get("conditions") or [])
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


CONTROLLERS.append(DeploymentController)
