"""Worlds for the Kubernetes layer's tests: a cluster runway is connected to, and a namespace name
of the test's own (deleted afterwards).

The cluster is the simulated one in its own process (`runway sim-cluster --admin`, started once
per test session and shared: each test works in namespaces of its own), with its test-only admin
API to steer it; or, when RUNWAY_TEST_KUBECONFIG names a kubeconfig, also that real cluster.
Tests that need the simulator's admin API skip on a real cluster, saying so. What a test changes
through the admin API (behaviour, faults) is put back after it, so nothing leaks into the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from runway.deploy.connection import Cluster, connect
from runway.deploy.errors import DeployError
from runway.simcluster.process import SimProcess, run_simulator

REAL = os.environ.get("RUNWAY_TEST_KUBECONFIG")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """The session's simulated cluster process (started on first use)."""
    with run_simulator(tmp_path_factory.mktemp("simcluster")) as sim:
        yield sim


@dataclass
class World:
    """A connected cluster; `sim` is the simulated cluster's process behind it (None on a real
    one)."""

    cluster: Cluster
    sim: SimProcess | None

    def require_sim(self) -> SimProcess:
        """The simulated cluster (`.url` is its admin API's base); skips on a real one."""
        if self.sim is None:
            pytest.skip("needs the simulated cluster's admin API (/_sim), not a real cluster")
        return self.sim

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.require_sim().url, timeout=30.0)

    async def inject(self, **fault: Any) -> None:
        """Inject a fault (runway.simcluster.faults) into the simulated cluster."""
        async with self.admin() as http:
            answer = await http.post("/_sim/faults", json=fault)
            assert answer.status_code == 201, answer.text

    async def behave(self, **behaviour: Any) -> None:
        """Change the simulated cluster's behaviour (`ready_delay`, `slow_delay`,
        `image_delays`: runway.simcluster.admin) for this test."""
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


@contextlib.asynccontextmanager
async def reset_afterwards(sim: SimProcess) -> AsyncIterator[None]:
    """Put the simulator's behaviour back as it was, and clear its faults, after the test."""
    async with httpx.AsyncClient(base_url=sim.url, timeout=30.0) as http:
        answer = await http.get("/_sim/behaviour")
        assert answer.status_code == 200, answer.text
        behaviour = answer.json()
    try:
        yield
    finally:
        async with httpx.AsyncClient(base_url=sim.url, timeout=30.0) as http:
            cleared = await http.delete("/_sim/faults")
            restored = await http.put("/_sim/behaviour", json=behaviour)
        assert cleared.status_code == 200, cleared.text
        assert restored.status_code == 200, restored.text


@pytest.fixture(params=["sim", "real"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "real":
        if not REAL:
            pytest.skip("RUNWAY_TEST_KUBECONFIG does not name a kubeconfig: no real cluster")
        cluster = await connect(REAL)
        try:
            yield World(cluster, None)
        finally:
            await cluster.close()
        return
    sim: SimProcess = request.getfixturevalue("sim_process")
    async with reset_afterwards(sim), await connect(str(sim.kubeconfig)) as cluster:
        yield World(cluster, sim)


@pytest.fixture
async def namespace_name(world: World) -> AsyncIterator[str]:
    """A namespace name of the test's own; the namespace is deleted after the test if made."""
    name = f"rw-test-{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(DeployError):
        await world.cluster.request("DELETE", f"/api/v1/namespaces/{name}")
