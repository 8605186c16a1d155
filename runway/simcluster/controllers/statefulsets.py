"""The StatefulSet controller: ordered pods `name-0..n-1`, claims from templates, revisions.

`OrderedReady` creates a pod only once every lower ordinal is ready (`Parallel` all at once);
a changed template rolls from the highest ordinal down, one pod at a time, like
`RollingUpdate` with partition 0.
"""

from __future__ import annotations

import time
from typing import Any

from runway.simcluster.clone import clone
from runway.simcluster.controllers import CONTROLLERS
from runway.simcluster.controllers.events import record, similar
from runway.simcluster.controllers.workloads import (
    BATCH_CAP,
    NEXT_PASS,
    PASS_BUDGET,
    PODS,
    Workload,
    compact,
    is_active,
    is_ready,
    template_hash,
)
from runway.simcluster.errors import AlreadyExists, ApiError, Object

STATEFULSETS = "apps/statefulsets"
CLAIMS = "/persistentvolumeclaims"
REVISION_LABEL = "controller-revision-hash"


class StatefulSetController(Workload):
    resource = STATEFULSETS
    owner_kind = "StatefulSet"
    watches = (STATEFULSETS, PODS)

    def sync(self, sts: Object) -> None:
        meta, spec = sts["metadata"], sts.get("spec") or {}
        namespace, name, uid = meta.get("namespace", ""), meta["name"], meta["uid"]
        wanted = int(spec.get("replicas", 1) or 0)
        template = spec.get("template") or {}
        revision = f"{name}-{template_hash(template)}"
        previous = sts.get("status") or {}
        pods_rt = self.cluster.catalogue.by_key(PODS)
        ordered = (spec.get("podManagementPolicy") or "OrderedReady") == "OrderedReady"
        by_ordinal: dict[int, Object] = {}
        for pod in self.cluster.store.owned(PODS, namespace, uid):
            ordinal = pod["metadata"]["name"].rsplit("-", 1)[-1]
            if ordinal.isdigit():
                by_ordinal[int(ordinal)] = pod
        # Failed or finished pods are replaced; pods past the replicas go, highest first.
        for ordinal, pod in sorted(by_ordinal.items(), reverse=True):
            if not is_active(pod) or ordinal >= wanted:
                self.delete(pods_rt, pod)
                del by_ordinal[ordinal]
                if ordered and is_active(pod):
                    break
        blocked = False
        made, began = 0, time.monotonic()
        for ordinal in range(wanted):
            found = by_ordinal.get(ordinal)
            if found is None:
                if blocked and ordered:
                    break
                if self.waiting(uid):
                    break  # refused lately: the back-off brings us back
                if made >= BATCH_CAP or time.monotonic() - began > PASS_BUDGET:
                    self.mark(namespace, name, NEXT_PASS)  # the API server answers meanwhile
                    break
                made += 1
                created = self._create(sts, ordinal, revision)
                if created is None:
                    break
                by_ordinal[ordinal] = created
                blocked = True
                if ordered:
                    break
            elif not is_ready(found):
                blocked = True
                if ordered:
                    break
        else:
            # Everything there and ready: roll one outdated pod, the highest ordinal first.
            for ordinal in sorted(by_ordinal, reverse=True):
                pod = by_ordinal[ordinal]
                if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision:
                    if all(is_ready(p) for p in by_ordinal.values()):
                        self.delete(pods_rt, pod)
                        del by_ordinal[ordinal]
                    break
        pods = list(by_ordinal.values())
        updated = [
            p for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision
        ]
        current_revision = previous.get("currentRevision") or revision
        if len(updated) == wanted and all(is_ready(p) for p in updated):
            current_revision = revision
        current = [
            p
            for p in pods
            if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == current_revision
        ]
        ready = sum(1 for p in pods if is_ready(p))
        status: dict[str, Any] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": ready,
            "currentReplicas": len(current),
            "updatedReplicas": len(updated),
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
            "availableReplicas": ready,
        }
        self.write_status(
            sts,
            compact(
                status, "observedGeneration", "replicas", "collisionCount", "availableReplicas"
            ),
        )

    def _create(self, sts: Object, ordinal: int, revision: str) -> Object | None:
        meta, spec = sts["metadata"], sts.get("spec") or {}
        namespace, name = meta.get("namespace", ""), meta["name"]
        pod_name = f"{name}-{ordinal}"
        template = clone(spec.get("template") or {})
        pod_spec = template.setdefault("spec", {})
        volumes = pod_spec.setdefault("volumes", [])
        claims_rt = self.cluster.catalogue.by_key(CLAIMS)
        for claim in spec.get("volumeClaimTemplates") or ():
            claim_meta = claim.get("metadata") or {}
            claim_name = f"{claim_meta.get('name')}-{pod_name}"
            if not any(v.get("name") == claim_meta.get("name") for v in volumes):
                volumes.append(
                    {
                        "name": claim_meta.get("name"),
                        "persistentVolumeClaim": {"claimName": claim_name},
                    }
                )
            if self.cluster.store.get(CLAIMS, namespace, claim_name) is None:
                labels = dict(((spec.get("selector") or {}).get("matchLabels")) or {})
                body = {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {
                        "name": claim_name,
                        "labels": {**(claim_meta.get("labels") or {}), **labels},
                    },
                    "spec": clone(claim.get("spec") or {}),
                }
                try:
                    self.create(claims_rt, namespace, body)
                except AlreadyExists:
                    pass
                except ApiError as error:
                    # Not forgotten: retried after a back-off, as the pod that needs it.
                    self._refused(
                        sts,
                        f"create Claim {claim_name} for Pod {pod_name} in StatefulSet {name} "
                        f"failed error: {error.message}",
                    )
                    return None
        if not volumes:
            del pod_spec["volumes"]
        pod_spec.setdefault("hostname", pod_name)
        if spec.get("serviceName"):
            pod_spec.setdefault("subdomain", spec["serviceName"])
        extra = {
            "metadata": {"name": pod_name},
            "labels": {
                REVISION_LABEL: revision,
                "statefulset.kubernetes.io/pod-name": pod_name,
                "apps.kubernetes.io/pod-index": str(ordinal),
            },
        }
        try:
            created = self.create_pod(sts, "apps/v1", template, extra)
        except AlreadyExists:
            return None
        except ApiError as error:
            self._refused(
                sts, f"create Pod {pod_name} in StatefulSet {name} failed error: {error.message}"
            )
            return None
        self.accepted(meta["uid"])
        return created

    def _refused(self, sts: Object, message: str) -> None:
        """A warning event (repeats aggregated) and a retry after a back-off."""
        meta = sts["metadata"]
        record(self.cluster, sts, "Warning", "FailedCreate", message, key=similar(message))
        self.refused(meta.get("namespace", ""), meta["name"], meta["uid"])


CONTROLLERS.append(StatefulSetController)
