"""The resource quota controller: fills each ResourceQuota's `status.hard` and `status.used`.

Until it has, a quota does not count (admission ignores quotas without `status.hard`), as on a
real cluster. Usage is recomputed for a namespace whenever something it counts changes there;
the sums are those admission checks against (`runway.simcluster.quota.namespace_usage`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runway.simcluster.bodies import Decoded
from runway.simcluster.controllers import CONTROLLERS, Controller
from runway.simcluster.controllers.workloads import status_body
from runway.simcluster.errors import ApiError
from runway.simcluster.objects import WriteOptions
from runway.simcluster.quota import namespace_usage, quantity
from runway.simcluster.store import Change

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

QUOTAS = "/resourcequotas"
_MANAGER = WriteOptions(manager="kube-controller-manager")


class QuotaController(Controller):
    """Recomputes quota status per namespace, coalescing bursts of changes into one pass."""

    watches = (
        QUOTAS,
        "/pods",
        "/persistentvolumeclaims",
        "/services",
        "/configmaps",
        "/secrets",
        "apps/deployments",
        "apps/replicasets",
        "apps/statefulsets",
        "batch/jobs",
    )

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__(cluster)
        self._pending: set[str] = set()

    def changed(self, change: Change) -> None:
        namespace = change.obj["metadata"].get("namespace", "")
        if not namespace or namespace in self._pending:
            return
        if change.resource != QUOTAS and not self.cluster.store.keys(QUOTAS, namespace):
            return
        self._pending.add(namespace)
        self.later(0.0, lambda: self._sync(namespace))

    def _sync(self, namespace: str) -> None:
        self._pending.discard(namespace)
        rt = self.cluster.catalogue.by_key(QUOTAS)
        for quota in self.cluster.store.items(QUOTAS, namespace):
            if quota["metadata"].get("deletionTimestamp"):
                continue
            hard = dict((quota.get("spec") or {}).get("hard") or {})
            used = namespace_usage(self.cluster.store, namespace, list(hard))
            status = {"hard": hard, "used": {name: quantity(used[name]) for name in used}}
            if quota.get("status") == status:
                continue
            body = Decoded(status_body(quota, status))
            name = quota["metadata"]["name"]
            try:
                self.cluster.objects.replace(rt, namespace, name, body, "status", _MANAGER)
            except ApiError:  # changed meanwhile: the change that did it brings us back
                self.changed(Change(0, "MODIFIED", QUOTAS, quota, None))


CONTROLLERS.append(QuotaController)
