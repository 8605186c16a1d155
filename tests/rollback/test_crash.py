"""A rollback whose instance is killed (SIGKILL) in the middle of putting a volume back: another
instance takes the deployment over when the lease lapses, runs the restore step again (the copy
Job and the recreated claims have names fixed in advance, so nothing is made twice) and
finishes it, and the volume holds what it held after v1. Real `runway serve` processes on
Postgres and the simulator in its own process (tests/executor/processes.py): with copies, which
last long enough to be interrupted; and with snapshots, killed at the worst moment, once the
volume's claim is deleted and before it is made again from the snapshot (the simulator holds
that request back)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from runway.deploy.connection import connect
from tests.executor.processes import ENVIRONMENT, Fleet, LeaseTimings, a_fleet
from tests.rollback.conftest import db_and_web

pytestmark = pytest.mark.anyio

CLAIM = "crash-db-data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app(schema: str, web: str) -> bytes:
    return db_and_web(schema, web, app="crash").encode()


async def deploy(fleet: Fleet, text: bytes) -> int:
    async with fleet.client(fleet.live()) as client:
        made = await client.post(
            f"/api/v1/environments/{ENVIRONMENT}/deployments",
            content=text,
            headers={"Content-Type": "application/yaml"},
        )
        assert made.status_code == 201, made.text
        ident = int(made.json()["id"])
        started = await client.post(f"/api/v1/deployments/{ident}/start")
        assert started.status_code == 200, started.text
    return ident


async def marker(fleet: Fleet, namespace: str, data: bytes | None = None) -> bytes:
    path = f"/_sim/volumes/{namespace}/{CLAIM}/files/marker"
    async with httpx.AsyncClient(base_url=fleet.sim.url, verify=False) as sim:
        if data is not None:
            answer = await sim.put(path, content=data)
        else:
            answer = await sim.get(path)
    assert answer.status_code == 200, answer.text
    return data if data is not None else answer.content


async def a_failed_second_deployment(fleet: Fleet, namespace: str) -> int:
    """v1 deployed (its volume marked `v1`), then v2 failed (the volume marked `v2` since)."""
    first = await deploy(fleet, app("1", "web:1"))
    assert await fleet.until_final(first, 60) == "succeeded"
    await marker(fleet, namespace, b"v1")
    second = await deploy(fleet, app("2", "web:pullfail"))
    assert await fleet.until_final(second, 60) == "failed"
    await marker(fleet, namespace, b"v2")
    return second


async def roll_back(fleet: Fleet, deployment: int) -> int:
    async with fleet.client(fleet.live()) as client:
        made = await client.post(
            f"/api/v1/deployments/{deployment}/rollback", json={"confirm": ENVIRONMENT}
        )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def test_a_restore_interrupted_by_a_crash_is_finished_by_another_instance(
    tmp_path: Path,
) -> None:
    timings = LeaseTimings(ttl=2.0, renew=0.5, scan=0.5)
    async with a_fleet(tmp_path, timings, ready_delay=1.0) as fleet:
        async with await connect(str(fleet.sim.kubeconfig)) as cluster:
            await cluster.request(
                "DELETE",
                "/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses/standard-snapshot",
            )
        namespace = await fleet.namespace()
        rollback = await roll_back(fleet, await a_failed_second_deployment(fleet, namespace))
        await fleet.until(rollback, "restore", ("waiting_ready",))
        owner = await fleet.owner(rollback)
        await asyncio.sleep(0.3)  # inside the copy back (a copy takes the ready delay, 1 s)
        owner.process.kill()
        owner.process.wait()
        await fleet.start(1)

        assert await fleet.until_final(rollback, 90) == "succeeded"
        assert await marker(fleet, namespace) == b"v1"
        events = await fleet.events(rollback)
        taken = [e for e in events if e["type"] == "lease"]
        assert taken and all(e["data"]["instance"] != owner.name for e in taken)
        restore = [
            e["data"]["status"]
            for e in events
            if e["type"] == "step" and e["data"].get("step") == "restore"
        ]
        # Applying, waiting, then (after the takeover) applying and waiting again, succeeded.
        assert restore.count("applying") == 2 and restore[-1] == "succeeded", restore


async def test_a_snapshot_restore_killed_with_its_claim_deleted_is_finished_by_another(
    tmp_path: Path,
) -> None:
    timings = LeaseTimings(ttl=2.0, renew=0.5, scan=0.5)
    async with a_fleet(tmp_path, timings, ready_delay=1.0) as fleet:
        namespace = await fleet.namespace()
        second = await a_failed_second_deployment(fleet, namespace)
        claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
        async with httpx.AsyncClient(base_url=fleet.sim.url, verify=False) as sim:
            # The claim made again from the snapshot is held back 8 s: the owner is killed
            # while only the snapshot holds the data.
            held = {"kind": "latency", "seconds": 8, "count": 1, "path": claims, "method": "POST"}
            assert (await sim.post("/_sim/faults", json=held)).status_code == 201
            rollback = await roll_back(fleet, second)
            # Under way: its applying can be over in less than a poll on a quick machine.
            await fleet.until(rollback, "restore", ("applying", "waiting_ready"))
            owner = await fleet.owner(rollback)
            deadline = asyncio.get_running_loop().time() + 30
            while (await sim.get(f"{claims}/{CLAIM}")).status_code != 404:
                assert asyncio.get_running_loop().time() < deadline, "the claim was not deleted"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the owner's request to make it again is held back
            owner.process.kill()
            owner.process.wait()
            await fleet.start(1)

            assert await fleet.until_final(rollback, 90) == "succeeded"
            remade = (await sim.get(f"{claims}/{CLAIM}")).json()
        assert remade["spec"]["dataSource"]["kind"] == "VolumeSnapshot"
        assert await marker(fleet, namespace) == b"v1"
        events = await fleet.events(rollback)
        assert any(e["type"] == "lease" and e["data"]["instance"] != owner.name for e in events), (
            "another instance did not take it over"
        )
