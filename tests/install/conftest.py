"""Worlds for the installer's tests: the simulated cluster in this process (its requests
recorded: runway.simcluster's `requests`), and a runway connected to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runway.deploy.connection import Cluster, connect
from runway.simcluster import SimCluster


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    """The simulated cluster in this process, its containers ready at once."""
    cluster = SimCluster(namespace_delay=0.0)
    cluster.behaviour.ready_delay = 0.0
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def cluster(sim: SimCluster, tmp_path: Path) -> AsyncIterator[Cluster]:
    """runway's connection to `sim`."""
    kubeconfig = tmp_path / "sim.kubeconfig"
    sim.write_kubeconfig(kubeconfig)
    async with await connect(str(kubeconfig)) as connected:
        yield connected
