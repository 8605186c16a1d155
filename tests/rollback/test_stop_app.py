"""Stopping an app before a restore (`stop_app`), on the simulated cluster: the replicas it
gives back when the pods do not go (or the cluster fails) survive the instance that scaled the
app to zero, no note of them is left behind once the pods went, and a note left by a stop that
failed half-way is not taken for a running Deployment's replicas."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runway.deploy import backup
from runway.deploy.backup import stop_app
from runway.deploy.errors import DeployError
from runway.deploy.volume_ops import REPLICAS_BEFORE, BackupFailed, scale_back, scale_to_zero
from runway.store import DeploymentStatus
from tests.rollback.conftest import Rig, config
from tests.rollback.test_rollback_safety import CLAIM, holder

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
    pytest.mark.parametrize("rig", ["snapshots"], indirect=True),
]

NOTES = config("""
    app: notes
    services:
      db:
        image: "postgres:16"
        ports: [5432]
        ready: {tcp: 5432}
        volumes: {data: {mount: /var/lib/db, size: 1Gi}}
      web: {image: "web:1", ports: [80], ready: {tcp: 80}, replicas: 3, depends_on: [db]}
    """)


async def workloads(rig: Rig) -> dict[str, dict[str, Any]]:
    cluster, ns = rig.place.world.cluster, rig.namespace
    found = {}
    for service in ("db", "web"):
        workload = await cluster.get(f"/apis/apps/v1/namespaces/{ns}/deployments/notes-{service}")
        assert workload is not None
        found[service] = workload
    return found


def replicas(found: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {service: w["spec"]["replicas"] for service, w in found.items()}


def notes_of(found: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    return {
        service: (w["metadata"].get("annotations") or {}).get(REPLICAS_BEFORE)
        for service, w in found.items()
    }


async def test_a_stop_resumed_after_its_instance_died_gives_the_replicas_back(rig: Rig) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    assert (await rig.run(NOTES)).status is DeploymentStatus.SUCCEEDED
    assert replicas(await workloads(rig)) == {"db": 1, "web": 3}
    stray = holder(ns, "stray", CLAIM, {"app.kubernetes.io/instance": "notes"})
    await cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", body=stray)
    # The first instance scales the app to zero, then dies while it waits for the pods.
    first = asyncio.create_task(stop_app(cluster, ns, "notes", timeout=60))
    async with asyncio.timeout(20):
        while replicas(await workloads(rig)) != {"db": 0, "web": 0}:
            await asyncio.sleep(0.05)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    # Another takes the stop over; the stray pod never goes, so the app is started again with
    # the replicas it had, which only the Deployments themselves still know.
    with pytest.raises(BackupFailed, match="the app was started again"):
        await stop_app(cluster, ns, "notes", timeout=0.5)
    found = await workloads(rig)
    assert replicas(found) == {"db": 1, "web": 3}
    assert notes_of(found) == {"db": None, "web": None}


async def test_a_stop_whose_pods_went_leaves_no_note_of_replicas(rig: Rig) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    assert (await rig.run(NOTES)).status is DeploymentStatus.SUCCEEDED
    await stop_app(cluster, ns, "notes", timeout=20)
    found = await workloads(rig)
    assert replicas(found) == {"db": 0, "web": 0}
    # A note left would be taken by the next backup's copy for the replicas before it.
    assert notes_of(found) == {"db": None, "web": None}


async def note(rig: Rig, service: str, replicas: str) -> None:
    """A note of replicas left on a Deployment, as a stop that failed half-way leaves it."""
    await rig.place.world.cluster.request(
        "PATCH",
        f"/apis/apps/v1/namespaces/{rig.namespace}/deployments/notes-{service}",
        body={"metadata": {"annotations": {REPLICAS_BEFORE: replicas}}},
        content_type="application/merge-patch+json",
    )


async def test_a_note_left_on_a_running_deployment_is_not_taken_for_its_replicas(rig: Rig) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    assert (await rig.run(NOTES)).status is DeploymentStatus.SUCCEEDED
    await note(rig, "web", "1")  # then an apply gave it its 3 replicas
    stray = holder(ns, "stray", CLAIM, {"app.kubernetes.io/instance": "notes"})
    await cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", body=stray)
    with pytest.raises(BackupFailed, match="the app was started again"):
        await stop_app(cluster, ns, "notes", timeout=0.5)
    found = await workloads(rig)
    assert replicas(found) == {"db": 1, "web": 3}
    assert notes_of(found) == {"db": None, "web": None}
    # The same for a copy's backup, which scales a workload to zero and back.
    await note(rig, "web", "1")
    assert await scale_to_zero(cluster, ns, "notes-web") == 3
    assert await scale_back(cluster, ns, "notes-web", None) == 3
    assert notes_of(await workloads(rig))["web"] is None


async def test_a_cluster_failing_while_the_app_stops_starts_it_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    assert (await rig.run(NOTES)).status is DeploymentStatus.SUCCEEDED

    async def failing(*_: object) -> None:
        raise DeployError("the cluster answered 503 to every try")

    monkeypatch.setattr(backup, "_delete_unfinished_jobs", failing)
    with pytest.raises(BackupFailed, match=r"503 .*nothing was restored, the app was started"):
        await stop_app(cluster, ns, "notes", timeout=20)
    found = await workloads(rig)
    assert replicas(found) == {"db": 1, "web": 3}
    assert notes_of(found) == {"db": None, "web": None}
