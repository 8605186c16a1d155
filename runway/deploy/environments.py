"""Preparing and deleting an environment's namespace (the objects come from
runway.deploy.environment_objects; this module only reads, waits and applies)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from runway.deploy.apply import RETRY, Retry, apply, retrying
from runway.deploy.connection import Cluster
from runway.deploy.environment_objects import (
    EnvironmentSettings,
    EnvironmentSpec,
    guards,
    is_ours,
    is_terminating,
    namespace,
)
from runway.deploy.errors import NamespaceNotOurs, NamespaceTerminating, NotFound

TERMINATING_WAIT = 60.0
"""Seconds to wait for an old namespace of the same name to finish terminating."""
_POLL = 0.25


async def prepare_environment(
    cluster: Cluster,
    spec: EnvironmentSpec,
    settings: EnvironmentSettings | None = None,
    *,
    terminating_wait: float = TERMINATING_WAIT,
    retry: Retry = RETRY,
) -> list[dict[str, Any]]:
    """Make sure the environment's namespace exists with all its guards (again, if it does:
    applying is idempotent); the objects as applied, the namespace first.

    NamespaceNotOurs when the namespace exists without runway's label; NamespaceTerminating
    when an old namespace of that name is still being deleted after `terminating_wait`
    seconds."""
    settings = settings or EnvironmentSettings()
    await _wait_until_usable(cluster, spec.namespace, terminating_wait, retry)
    applied = [await apply(cluster, namespace(spec), retry)]
    for manifest in guards(spec, settings):
        applied.append(await apply(cluster, manifest, retry))
    return applied


async def delete_environment(cluster: Cluster, name: str, retry: Retry = RETRY) -> None:
    """Delete an environment's namespace and everything in it (the cluster finishes in the
    background). Nothing to do when it is already gone; NamespaceNotOurs when it is not
    runway's."""
    found = await retrying(lambda: cluster.get(_path(name)), retry)
    if found is None:
        return
    if not is_ours(found):
        raise NamespaceNotOurs(_not_ours(name))
    query = [("propagationPolicy", "Background")]
    try:
        await retrying(lambda: cluster.request("DELETE", _path(name), query=query), retry)
    except NotFound:
        return


async def _wait_until_usable(cluster: Cluster, name: str, wait: float, retry: Retry) -> None:
    deadline = time.monotonic() + wait
    while True:
        found = await retrying(lambda: cluster.get(_path(name)), retry)
        if found is None:
            return
        if not is_ours(found):
            raise NamespaceNotOurs(_not_ours(name))
        if not is_terminating(found):
            return
        if time.monotonic() >= deadline:
            raise NamespaceTerminating(
                f"namespace {name} is still being deleted (Terminating) after {wait:g}s; "
                "the environment can be prepared again once it is gone",
                5.0,
            )
        await asyncio.sleep(_POLL)


def _path(name: str) -> str:
    return f"/api/v1/namespaces/{name}"


def _not_ours(name: str) -> str:
    return (
        f"namespace {name} exists but was not made by runway (no "
        "app.kubernetes.io/managed-by=runway label): runway will not take it over; "
        "delete it or ask an admin to choose another namespace"
    )
