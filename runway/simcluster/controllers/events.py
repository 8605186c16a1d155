"""core/v1 Events, as controllers record them (`kubectl describe` and `get events` show them)."""

from __future__ import annotations

import logging
import re
import secrets
import weakref
from typing import TYPE_CHECKING

from runway.simcluster.bodies import Decoded
from runway.simcluster.clone import clone
from runway.simcluster.errors import ApiError, Object
from runway.simcluster.objects import WriteOptions

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

log = logging.getLogger("runway.simcluster")

EVENTS = "/events"

_QUOTED = re.compile(r'"[^"]*"')

_SEEN: weakref.WeakKeyDictionary[SimCluster, dict[tuple[str, ...], tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)
"""Per cluster: the Event last recorded for each aggregation key (namespace, name)."""
_SEEN_KEPT = 50_000


def similar(message: str) -> str:
    """A message without what varies between attempts (the quoted, generated object names)."""
    return _QUOTED.sub('""', message)


def record(
    cluster: SimCluster,
    about: Object,
    kind: str,
    reason: str,
    message: str,
    component: str = "kube-controller-manager",
    *,
    key: str | None = None,
) -> None:
    """Record one Event about an object (a refusal is logged, never raised).

    A repeat of an Event (same object, type, reason, source and message, or the same `key` when
    one is given) is aggregated as a real cluster's event correlator does: the Event already
    recorded gets a higher `count` and a new `lastTimestamp` (and the latest message), rather
    than a new Event being created."""
    meta = about["metadata"]
    namespace = meta.get("namespace") or "default"
    now = cluster.objects.now()
    seen = _SEEN.setdefault(cluster, {})
    aggregate = (
        namespace,
        str(meta.get("uid") or meta["name"]),
        kind,
        reason,
        component,
        message if key is None else key,
    )
    if _bump(cluster, seen.get(aggregate), message, now, component):
        return
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
        created = cluster.objects.create(
            cluster.catalogue.by_key(EVENTS),
            namespace,
            Decoded(body),
            WriteOptions(manager=component),
        )
    except ApiError as error:
        log.info("runway-sim (simulated): event %s not recorded: %s", reason, error.message)
        return
    if len(seen) >= _SEEN_KEPT:
        seen.clear()  # forgetting only means a repeat starts a new Event
    seen[aggregate] = (namespace, created.obj["metadata"]["name"])


def _bump(
    cluster: SimCluster, where: tuple[str, str] | None, message: str, now: str, component: str
) -> bool:
    """Count one more occurrence on an Event already recorded; False when it is gone."""
    if where is None:
        return False
    live = cluster.store.get(EVENTS, *where)
    if live is None:
        return False
    body = clone(live)
    body["count"] = int(live.get("count") or 1) + 1
    body["lastTimestamp"] = now
    body["message"] = message
    try:
        cluster.objects.replace(
            cluster.catalogue.by_key(EVENTS),
            where[0],
            where[1],
            Decoded(body),
            None,
            WriteOptions(manager=component),
        )
    except ApiError as error:
        log.info("runway-sim (simulated): event %s not updated: %s", where[1], error.message)
        return False
    return True
