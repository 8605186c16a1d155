"""Worlds for restore points and rollbacks: the executor's (a store on SQLite and Postgres, the
simulated cluster in its own process, an environment of the test's own), with helpers to run
a deployment to its end and to read and write the test-only contents of a volume; and the
API's (`a_server_on`: a server on SQLite deploying to the simulated cluster in the test's own
process), with `deploy` to run a deployment through it.

The `copies` worlds make the app's claims use a storage class whose driver has no
VolumeSnapshotClass (`without_snapshots`), so backups are copies instead of snapshots."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from runway.auth import PasswordHasher
from runway.deploy import RenderSettings
from runway.deploy.connection import Cluster, connect
from runway.executor.executor import Executor
from runway.executor.run import Limits
from runway.http import Settings, create_app
from runway.simcluster import SimCluster
from runway.store import Deployment, DeploymentStatus, Store, sqlite_url
from tests.deploy.conftest import sim_process, world  # noqa: F401 (fixtures)
from tests.executor.conftest import Place, place  # noqa: F401 (fixtures)
from tests.http.stories import YAML, wait_for
from tests.http.worlds import PUBLIC_URL, World
from tests.store.conftest import anyio_backend, backend, postgres, store, store_url  # noqa: F401

NO_SNAPSHOTS = "rw-test-nosnap"
"""A storage class whose simulated driver has no VolumeSnapshotClass."""


def config(body: str) -> str:
    return "runway: 1\n" + textwrap.dedent(body)


def db_and_web(schema: str = "1", web: str = "web:1", app: str = "notes") -> str:
    """The app most rollback tests deploy: a database with a volume (its claim `{app}-db-data`)
    and a web service after it. Another `schema` changes the database, so that deployment backs
    the volume up first; `web="web:pullfail"` makes a deployment fail."""
    return config(f"""
        app: {app}
        services:
          db:
            image: "postgres:16"
            env: {{SCHEMA: "{schema}"}}
            ports: [5432]
            ready: {{tcp: 5432}}
            volumes: {{data: {{mount: /var/lib/db, size: 1Gi}}}}
          web: {{image: "{web}", ports: [80], ready: {{tcp: 80}}, depends_on: [db]}}
        """)


async def without_snapshots(cluster: Cluster) -> RenderSettings:
    """Render settings whose claims are of NO_SNAPSHOTS, a storage class made here as the
    cluster's admin would (unless an earlier test made it)."""
    path = f"/apis/storage.k8s.io/v1/storageclasses/{NO_SNAPSHOTS}"
    if await cluster.get(path) is None:
        storage_class = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": NO_SNAPSHOTS},
            "provisioner": "runway-sim.io/no-snapshots",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
        await cluster.request("POST", "/apis/storage.k8s.io/v1/storageclasses", body=storage_class)
    return RenderSettings(storage_class=NO_SNAPSHOTS)


@dataclass
class Rig:
    place: Place
    settings: RenderSettings

    @property
    def namespace(self) -> str:
        return self.place.environment.namespace

    def executor(self) -> Executor:
        return Executor(
            self.place.store,
            self.place.world.cluster,
            limits=Limits(step_timeout=20.0),
            settings=self.settings,
        )

    async def run(self, text: str) -> Deployment:
        """Create and start a deployment of `text`; the deployment once it ended."""
        deployment = await self.place.deployment(text)
        return await self.run_created(deployment)

    async def run_created(self, deployment: Deployment) -> Deployment:
        executor = self.executor()
        try:
            await executor.start(deployment)
            status = await asyncio.wait_for(executor.wait(deployment.id), 60)
            assert status in (DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED), status
        finally:
            await executor.close()
        return await self.place.reread(deployment)

    async def write(self, claim: str, path: str, data: bytes, uid: int = 0) -> None:
        async with self.place.world.admin() as http:
            answer = await http.put(
                f"/_sim/volumes/{self.namespace}/{claim}/files/{path}",
                content=data,
                params={"uid": uid},
            )
            assert answer.status_code == 200, answer.text

    async def read(self, claim: str, path: str) -> bytes | None:
        async with self.place.world.admin() as http:
            answer = await http.get(f"/_sim/volumes/{self.namespace}/{claim}/files/{path}")
        if answer.status_code in (404, 409):
            return None
        assert answer.status_code == 200, answer.text
        return answer.content

    async def owner(self, claim: str, path: str) -> int:
        async with self.place.world.admin() as http:
            answer = await http.get(f"/_sim/volumes/{self.namespace}/{claim}/files/{path}")
        assert answer.status_code == 200, answer.text
        return int(answer.headers["X-Sim-Uid"])


@pytest.fixture(params=["snapshots", "copies"])
async def rig(request: pytest.FixtureRequest, place: Place) -> Rig:  # noqa: F811
    if request.param == "snapshots":
        return Rig(place, RenderSettings())
    return Rig(place, await without_snapshots(place.world.cluster))


@asynccontextmanager
async def a_server_on(sim: SimCluster, tmp_path: Path, backups: str) -> AsyncIterator[World]:
    """runway's server on SQLite, deploying to `sim`; with `backups="copies"`, apps' volumes are
    of a storage class whose driver has no VolumeSnapshotClass (made before the test begins)."""
    settings = Settings(
        database_url=sqlite_url(tmp_path), public_url=PUBLIC_URL, hasher=PasswordHasher.cheap()
    )
    kubeconfig = tmp_path / "sim.kubeconfig"
    sim.write_kubeconfig(kubeconfig)
    database = await Store.open(settings.database_url)
    cluster = await connect(str(kubeconfig))
    if backups == "copies":
        settings = replace(settings, render=await without_snapshots(cluster))
    server = World(database, settings, create_app(settings, database, cluster=cluster), sim=sim)
    try:
        yield server
    finally:
        await server.close()
        await cluster.close()
        await database.close()


async def deploy(
    client: httpx.AsyncClient,
    text: str | bytes,
    answers: dict[str, Any] | None,
    end: str = "succeeded",
) -> dict[str, Any]:
    """Create a deployment of `text` through the API, answer its inputs and start it; the
    deployment once its status is `end`."""
    made = await client.post("/api/v1/environments/staging/deployments", content=text, headers=YAML)
    assert made.status_code == 201, made.text
    path = f"/api/v1/deployments/{made.json()['id']}"
    if answers:
        given = await client.post(f"{path}/inputs", json=answers)
        assert given.status_code == 200, given.text
    started = await client.post(f"{path}/start")
    assert started.status_code == 200, started.text
    return await wait_for(client, made.json()["id"], end)
