"""core/v1 Events, as controllers record them (`kubectl describe` and `get events` show them)."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from runway.simcluster.bodies import Decoded
from runway.simcluster.errors import ApiError, Object
from runway.simcluster.objects import WriteOptions

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

log = logging.getLogger("runway.simcluster")

EVENTS = "/events"


def record(
    cluster: SimCluster,
    about: Object,
    kind: str,
    reason: str,
    message: str,
    component: str = "kube-controller-manager",
) -> None:
    """Record one Event about an object (a refusal is logged, never raised)."""
    meta = about["metadata"]
    namespace = meta.get("namespace") or "default"
    now = cluster.objects.now()
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}"},
        "involvedObject": {
            "kind": about.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta.get("uid"),
            "apiVersion": about.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": kind,
        "reportingComponent": component,
        "reportingInstance": "",
    }
    try:
        cluster.objects.create(
            cluster.catalogue.by_key(EVENTS),
            namespace,
            Decoded(body),
            WriteOptions(manager=component),
        )
    except ApiError as error:
        log.info("runway-sim (simulated): event %s not recorded: %s", reason, error.message)
