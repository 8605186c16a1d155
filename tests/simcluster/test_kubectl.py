"""kubectl, with its own discovery and cache, against the simulated cluster (HTTP and HTTPS)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runway.simcluster import SimCluster

KUBECTL = Path("/usr/bin/kubectl")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not KUBECTL.exists(), reason="no kubectl at /usr/bin/kubectl on this machine"
    ),
]

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=[False, True], ids=["http", "tls"])
async def simulated(request, tmp_path) -> AsyncIterator[tuple[SimCluster, Path]]:
    cluster = SimCluster()
    await cluster.start(tls=request.param)
    kubeconfig = tmp_path / "kubeconfig"
    cluster.write_kubeconfig(kubeconfig)
    try:
        yield cluster, kubeconfig
    finally:
        await cluster.stop()


async def kubectl(kubeconfig: Path, *args: str) -> str:
    """Run kubectl with a cache of its own; its output, or the test fails with what it said."""
    cache = kubeconfig.parent / "cache"
    process = await asyncio.create_subprocess_exec(
        str(KUBECTL),
        f"--kubeconfig={kubeconfig}",
        f"--cache-dir={cache}",
        "--request-timeout=20s",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, f"kubectl {' '.join(args)} failed: {err.decode()}"
    return out.decode()


async def test_kubectl_creates_applies_reads_and_deletes(simulated, tmp_path):
    cluster, kubeconfig = simulated
    namespaces = await kubectl(kubeconfig, "get", "ns")
    assert {"default", "kube-system", "kube-public"} <= {
        line.split()[0] for line in namespaces.splitlines()[1:]
    }

    assert await kubectl(kubeconfig, "create", "namespace", "shop") == "namespace/shop created\n"

    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT)
    applied = await kubectl(kubeconfig, "apply", "--server-side", "-f", str(manifest), "-n", "shop")
    assert applied == "deployment.apps/web serverside-applied\n"
    again = await kubectl(kubeconfig, "apply", "--server-side", "-f", str(manifest), "-n", "shop")
    assert again == applied

    deployment = json.loads(
        await kubectl(
            kubeconfig, "get", "deploy", "web", "-n", "shop", "-o", "json", "--show-managed-fields"
        )
    )
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    # kubectl's apply owns the spec; the Deployment controller writes status as its own manager.
    [owner] = [e for e in deployment["metadata"]["managedFields"] if e["operation"] == "Apply"]
    assert (owner["manager"], owner["operation"]) == ("kubectl", "Apply")

    deleted = await kubectl(kubeconfig, "delete", "deployment", "web", "-n", "shop")
    assert deleted == 'deployment.apps "web" deleted\n'
    gone = await kubectl(kubeconfig, "delete", "namespace", "shop")  # waits until it is gone
    assert gone == 'namespace "shop" deleted\n'
    assert cluster.store.get("/namespaces", "", "shop") is None

    agents = {r.user_agent.split("/")[0] for r in cluster.requests}
    assert "kubectl" in agents
