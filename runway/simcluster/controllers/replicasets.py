"""kube-controller-manager's ReplicaSet controller: the pods of a ReplicaSet, created in growing
batches and counted in its status."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from runway.simcluster.clone import clone
from runway.simcluster.controllers import CONTROLLERS
from runway.simcluster.controllers.events import record, similar
from runway.simcluster.errors import ApiError, Object
from runway.simcluster.store import Change

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

from runway.simcluster.controllers.workloads import (
    BATCH_CAP,
    NEXT_PASS,
    PASS_BUDGET,
    PODS,
    REPLICASETS,
    Workload,
    compact,
    drop_condition,
    is_active,
    is_ready,
    pods_of,
    ready_since,
    set_condition,
)

log = logging.getLogger("runway.simcluster")


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
        status = clone(rs.get("status") or {})
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


CONTROLLERS.append(ReplicaSetController)
