"""Worlds for the Kubernetes layer's tests: a cluster runway is connected to, and a namespace name
of the test's own (deleted afterwards).

The cluster is the simulated one, served in-process over HTTP with its test-only admin API (to
inject faults); or, when RUNWAY_TEST_KUBECONFIG names a kubeconfig, also that real cluster. Tests
that need the simulator's admin API skip on a real cluster, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runway.deploy.connection import Cluster, connect
from runway.deploy.errors import DeployError
from runway.simcluster import SimCluster

REAL = os.environ.get("RUNWAY_TEST_KUBECONFIG")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class World:
    """A connected cluster; `sim` is the simulated cluster behind it (None on a real one)."""

    cluster: Cluster
    sim: SimCluster | None

    def require_sim(self) -> SimCluster:
        """The simulated cluster; skips the test on a real one."""
        if self.sim is None:
            pytest.skip("needs the simulated cluster's admin API (/_sim), not a real cluster")
        return self.sim

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.require_sim().url)

    async def inject(self, **fault: Any) -> None:
        """Inject a fault (runway.simcluster.faults) into the simulated cluster."""
        async with self.admin() as http:
            answer = await http.post("/_sim/faults", json=fault)
            assert answer.status_code == 201, answer.text

    async def behave(self, **behaviour: Any) -> None:
        """Change the simulated cluster's behaviour (`ready_delay`, `slow_delay`,
        `image_delays`: runway.simcluster.admin)."""
        async with self.admin() as http:
            answer = await http.put("/_sim/behaviour", json=behaviour)
            assert answer.status_code == 200, answer.text

    async def requests_since(self, index: int) -> tuple[list[dict[str, Any]], int]:
        """The API requests the simulator received from `index` on, and the next index."""
        async with self.admin() as http:
            body = (await http.get("/_sim/requests", params={"since": index})).json()
        return body["items"], body["next"]

    async def wait_for(self, path: str, check: Any, seconds: float = 10.0) -> dict[str, Any]:
        """The object at `path` once `check(object)` holds."""
        found = None
        for _ in range(int(seconds / 0.05)):
            found = await self.cluster.get(path)
            if found is not None and check(found):
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{path} never got there: {found}")


@pytest.fixture(params=["sim", "real"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "real":
        if not REAL:
            pytest.skip("RUNWAY_TEST_KUBECONFIG does not name a kubeconfig: no real cluster")
        cluster = await connect(REAL)
        try:
            yield World(cluster, None)
        finally:
            await cluster.close()
        return
    sim = SimCluster(admin=True)
    await sim.start()
    try:
        sim.write_kubeconfig(tmp_path / "kubeconfig")
        async with await connect(str(tmp_path / "kubeconfig")) as cluster:
            yield World(cluster, sim)
    finally:
        await sim.stop()


@pytest.fixture
async def namespace_name(world: World) -> AsyncIterator[str]:
    """A namespace name of the test's own; the namespace is deleted after the test if made."""
    name = f"rw-test-{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(DeployError):
        await world.cluster.request("DELETE", f"/api/v1/namespaces/{name}")
