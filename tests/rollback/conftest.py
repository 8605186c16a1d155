"""Worlds for restore points and rollbacks: the executor's (a store on SQLite and Postgres, the
simulated cluster in its own process, an environment of the test's own), with helpers to run
a deployment to its end and to read and write the test-only contents of a volume.

`Volumes.copies()` makes the app's claims use a storage class whose driver has no
VolumeSnapshotClass, so backups are copies instead of snapshots."""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import dataclass

import pytest

from runway.deploy import RenderSettings
from runway.executor.executor import Executor
from runway.executor.run import Limits
from runway.store import Deployment, DeploymentStatus
from tests.deploy.conftest import sim_process, world  # noqa: F401 (fixtures)
from tests.executor.conftest import Place, place  # noqa: F401 (fixtures)
from tests.store.conftest import anyio_backend, backend, postgres, store, store_url  # noqa: F401

NO_SNAPSHOTS = "rw-test-nosnap"
"""A storage class whose simulated driver has no VolumeSnapshotClass."""


def config(body: str) -> str:
    return "runway: 1\n" + textwrap.dedent(body)


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
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": NO_SNAPSHOTS},
        "provisioner": "runway-sim.io/no-snapshots",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    path = f"/apis/storage.k8s.io/v1/storageclasses/{NO_SNAPSHOTS}"
    if await place.world.cluster.get(path) is None:  # else made by an earlier test
        await place.world.cluster.request(
            "POST", "/apis/storage.k8s.io/v1/storageclasses", body=storage_class
        )
    return Rig(place, RenderSettings(storage_class=NO_SNAPSHOTS))
