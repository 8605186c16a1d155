"""Worlds for the conformance suite: a cluster to talk to, a client, a fresh namespace per test.

The cluster is the simulated one in its own process (`runway sim-cluster`), over HTTP and over
HTTPS with a bearer token; or, when RUNWAY_TEST_KUBECONFIG names a kubeconfig, that cluster
instead. Every test works in a namespace of its own and deletes it afterwards, so the same tests
can run against a real cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.rest import ApiException

REAL = os.environ.get("RUNWAY_TEST_KUBECONFIG")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Cluster:
    """Where the tests talk: `http` or `tls` (simulated) or `real`, and its kubeconfig."""

    flavour: str
    kubeconfig: str

    @property
    def simulated(self) -> bool:
        return self.flavour != "real"


def _start_simulator(directory: Path, tls: bool) -> Iterator[Cluster]:
    kubeconfig = directory / "kubeconfig"
    command = [sys.executable, "-m", "runway", "sim-cluster", "--port", "0"]
    command += ["--kubeconfig", str(kubeconfig)] + (["--tls"] if tls else [])
    log = (directory / "sim.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not kubeconfig.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the simulated cluster did not start: {(directory / 'sim.log').read_text()}"
                )
            time.sleep(0.02)
        yield Cluster("tls" if tls else "http", str(kubeconfig))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session", params=["http", "tls", "real"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if request.param == "real":
        if not REAL:
            pytest.skip(
                "RUNWAY_TEST_KUBECONFIG does not name a kubeconfig: no real cluster to compare"
            )
        yield Cluster("real", REAL)
        return
    if REAL:
        pytest.skip("RUNWAY_TEST_KUBECONFIG is set: the suite runs against that cluster instead")
    yield from _start_simulator(tmp_path_factory.mktemp(request.param), request.param == "tls")


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[client.ApiClient]:
    """A kubernetes-asyncio client of its own for each test."""
    api_client = await config.new_client_from_config(config_file=cluster.kubeconfig)
    try:
        yield api_client
    finally:
        await api_client.close()


@pytest.fixture
async def namespace(api: client.ApiClient) -> AsyncIterator[str]:
    """A fresh namespace, deleted after the test."""
    name = f"conf-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        try:
            await core.delete_namespace(name)
        except ApiException as error:
            if error.status not in (404, 409):
                raise
