"""A rollback whose instance is killed (SIGKILL) in the middle of putting a volume back: another
instance takes the deployment over when the lease lapses, runs the restore step again (the copy
Job and the recreated claims have names fixed in advance, so nothing is made twice) and
finishes it, and the volume holds what it held after v1. Real `runway serve` processes on
Postgres and the simulator in its own process (tests/executor/processes.py), with copies rather
than snapshots so that the restore lasts long enough to be interrupted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from runway.deploy.connection import connect
from tests.executor.processes import ENVIRONMENT, Fleet, LeaseTimings, a_fleet
from tests.rollback.conftest import config

pytestmark = pytest.mark.anyio

CLAIM = "crash-db-data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app(schema: str, web: str) -> bytes:
    return config(f"""
        app: crash
        services:
          db:
            image: "postgres:16"
            env: {{SCHEMA: "{schema}"}}
            ports: [5432]
            ready: {{tcp: 5432}}
            volumes: {{data: {{mount: /data, size: 1Gi}}}}
          web: {{image: "{web}", ports: [80], ready: {{tcp: 80}}, depends_on: [db]}}
        """).encode()


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
        first = await deploy(fleet, app("1", "web:1"))
        assert await fleet.until_final(first, 60) == "succeeded"
        await marker(fleet, namespace, b"v1")
        second = await deploy(fleet, app("2", "web:pullfail"))
        assert await fleet.until_final(second, 60) == "failed"
        await marker(fleet, namespace, b"v2")

        async with fleet.client(fleet.live()) as client:
            made = await client.post(
                f"/api/v1/deployments/{second}/rollback", json={"confirm": ENVIRONMENT}
            )
        assert made.status_code == 201, made.text
        rollback = int(made.json()["id"])
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
