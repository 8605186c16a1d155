"""Connecting to a cluster: which one `auto` picks, whether it is the simulated one, and a missing
kubeconfig or an unreachable server as a clear ClusterUnavailable, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from runway.deploy.apply import Retry, apply
from runway.deploy.connection import connect
from runway.deploy.errors import ClusterUnavailable
from runway.simcluster import SimCluster

pytestmark = pytest.mark.anyio


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubeconfig(path: Path, server: str, name: str = "somewhere") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": name, "cluster": {"server": server}}],
                "contexts": [{"name": name, "context": {"cluster": name}}],
                "current-context": name,
            }
        )
    )
    return path


async def test_the_simulated_cluster_is_reachable_and_says_it_is_simulated(
    tmp_path: Path,
) -> None:
    sim = SimCluster()
    await sim.start()
    try:
        sim.write_kubeconfig(tmp_path / "kubeconfig")
        async with await connect(str(tmp_path / "kubeconfig")) as cluster:
            assert cluster.simulated
            assert cluster.url == sim.url
            assert await cluster.reachable()
            assert "gitVersion" in await cluster.version()
    finally:
        await sim.stop()


async def test_auto_uses_KUBECONFIG(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _kubeconfig(tmp_path / "config", "http://127.0.0.1:1")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(path))
    async with await connect("auto") as cluster:
        assert cluster.source == str(path)
        assert cluster.url == "http://127.0.0.1:1"
        assert not cluster.simulated


async def test_auto_without_any_kubeconfig_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ClusterUnavailable, match=r"^auto: no kubeconfig at .*/\.kube/config$"):
        await connect("auto")


async def test_a_missing_or_unreadable_kubeconfig_is_cluster_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnavailable, match=r"no kubeconfig at .*/nope"):
        await connect(str(tmp_path / "nope"))
    (tmp_path / "broken").write_text("clusters: [unclosed")
    with pytest.raises(ClusterUnavailable, match="is not YAML"):
        await connect(str(tmp_path / "broken"))
    (tmp_path / "empty").write_text("clusters: []\n")
    with pytest.raises(ClusterUnavailable, match="cannot be used"):
        await connect(str(tmp_path / "empty"))


async def test_an_unreachable_cluster_is_cluster_unavailable(tmp_path: Path) -> None:
    port = _closed_port()
    path = _kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}")
    async with await connect(str(path)) as cluster:
        assert not await cluster.reachable()
        with pytest.raises(
            ClusterUnavailable, match=f"cannot connect to the cluster at 127.0.0.1:{port}"
        ):
            await cluster.version()
        manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
        with pytest.raises(ClusterUnavailable, match="still failing after 2 tries"):
            await apply(cluster, manifest, Retry(tries=2, first=0.01, longest=0.01))


async def test_the_simulated_cluster_over_https_with_a_token(tmp_path: Path) -> None:
    sim = SimCluster()
    await sim.start(tls=True)
    try:
        sim.write_kubeconfig(tmp_path / "kubeconfig")
        async with await connect(str(tmp_path / "kubeconfig")) as cluster:
            assert cluster.url.startswith("https://")
            assert cluster.simulated
            namespaces = await cluster.request("GET", "/api/v1/namespaces")
            assert "default" in [n["metadata"]["name"] for n in namespaces["items"]]
    finally:
        await sim.stop()


async def test_a_pod_without_a_usable_service_account_is_cluster_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setattr("runway.deploy.connection.SERVICE_ACCOUNT_TOKEN", token)
    with pytest.raises(ClusterUnavailable, match="runway's service account cannot be used"):
        await connect("auto")
