"""`kubectl rollout status` (the kubectl on PATH) follows the simulated cluster's Deployments."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runway.simcluster import SimCluster

KUBECTL = shutil.which("kubectl")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(KUBECTL is None, reason="no kubectl on PATH on this machine"),
]

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  progressDeadlineSeconds: {deadline}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: {image}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def simulated(tmp_path: Path) -> AsyncIterator[Path]:
    cluster = SimCluster()
    await cluster.start()
    kubeconfig = tmp_path / "kubeconfig"
    cluster.write_kubeconfig(kubeconfig)
    try:
        yield kubeconfig
    finally:
        await cluster.stop()


async def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run kubectl with a cache of its own: its exit code, output and error output."""
    assert KUBECTL is not None
    process = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--kubeconfig={kubeconfig}",
        f"--cache-dir={kubeconfig.parent / 'cache'}",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else None), 60
    )
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def apply(kubeconfig: Path, name: str, image: str, deadline: int = 600) -> None:
    manifest = MANIFEST.format(name=name, image=image, deadline=deadline)
    code, _, err = await kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=manifest)
    assert code == 0, err


async def test_rollout_status_follows_a_deployment_to_success(simulated):
    await apply(simulated, "web", "nginx:1.27")
    code, out, err = await kubectl(
        simulated, "rollout", "status", "deployment/web", "--timeout=20s"
    )
    assert code == 0, err
    assert 'deployment "web" successfully rolled out' in out
    # A new image rolls again, and kubectl follows that rollout too.
    code, _, err = await kubectl(simulated, "set", "image", "deployment/web", "web=nginx:1.28")
    assert code == 0, err
    code, out, err = await kubectl(
        simulated, "rollout", "status", "deployment/web", "--timeout=20s"
    )
    assert code == 0, err
    assert 'deployment "web" successfully rolled out' in out


async def test_rollout_status_reports_an_image_that_cannot_be_pulled(simulated):
    await apply(simulated, "stuck", "nginx:pullfail")
    code, out, err = await kubectl(
        simulated, "rollout", "status", "deployment/stuck", "--timeout=2s"
    )
    assert code != 0
    assert 'Waiting for deployment "stuck" rollout to finish' in out
    assert "timed out waiting for the condition" in err


async def test_rollout_status_stops_at_the_progress_deadline(simulated):
    await apply(simulated, "late", "nginx:pullfail", deadline=1)
    code, _, err = await kubectl(simulated, "rollout", "status", "deployment/late", "--timeout=20s")
    assert code != 0
    assert 'deployment "late" exceeded its progress deadline' in err


async def test_rollout_status_waits_for_a_slow_image(tmp_path):
    cluster = SimCluster()
    cluster.behaviour.slow_delay = 1.5
    await cluster.start()
    kubeconfig = tmp_path / "kubeconfig"
    cluster.write_kubeconfig(kubeconfig)
    try:
        await apply(kubeconfig, "slow", "nginx:slow")
        code, out, err = await kubectl(
            kubeconfig, "rollout", "status", "deployment/slow", "--timeout=20s"
        )
        assert code == 0, err
        assert 'Waiting for deployment "slow" rollout to finish' in out
        assert 'deployment "slow" successfully rolled out' in out
    finally:
        await cluster.stop()
