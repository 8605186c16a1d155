"""Issue 13: installing into the simulated cluster, then a server using that state, works end
to end. runway is installed in the namespace `tools` with Traefik's namespace as the ingress
controller's; then `runway serve` runs as a process with the environment the installed
Deployment gives its pods (the downward API and Secrets resolved as the kubelet would), the
simulated cluster as its cluster and a database of its own here (SQLite: the installed URL names
a Postgres inside the cluster). An admin sets it up, makes an environment, and deploys an app."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runway.deploy.connection import Cluster
from runway.install import InstallOptions, check, install
from runway.simcluster import SimCluster

pytestmark = pytest.mark.anyio

RUNWAY = str(Path(sys.executable).with_name("runway"))
HELLO = (Path(__file__).parents[2] / "examples" / "hello.yaml").read_bytes()
TOKEN_LINE = re.compile(r"One-time setup token \(valid until [^)]*\): (rw_[A-Za-z0-9_-]+)")
PASSWORD = "correct horse battery"


async def pod_environment(cluster: Cluster, namespace: str) -> dict[str, str]:
    """The RUNWAY_* variables a pod of runway's installed Deployment is given."""
    deployment = await cluster.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/runway")
    assert deployment is not None
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for variable in container["env"]:
        given: Any = variable.get("value")
        source = variable.get("valueFrom") or {}
        if "fieldRef" in source:
            field = source["fieldRef"]["fieldPath"]
            given = {"metadata.namespace": namespace, "metadata.name": "runway-e2e-0"}[field]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = await cluster.get(f"/api/v1/namespaces/{namespace}/secrets/{ref['name']}")
            assert secret is not None
            given = base64.b64decode(secret["data"][ref["key"]]).decode()
        env[variable["name"]] = given
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_server_run_as_installed_creates_an_environment_and_deploys(
    sim: SimCluster, cluster: Cluster, tmp_path: Path
):
    options = check(
        InstallOptions(
            public_url="http://runway.example.com", namespace="tools", ingress_namespace="traefik"
        )
    )
    await install(cluster, options, lambda _: None)

    env = await pod_environment(cluster, "tools")
    assert env["RUNWAY_NAMESPACE"] == "tools"
    del env["RUNWAY_DATABASE_URL"]  # runway-postgres.tools.svc: here, SQLite in the data dir
    port = free_port()
    env |= {
        "RUNWAY_KUBE": str(tmp_path / "sim.kubeconfig"),  # the `cluster` fixture wrote it
        "RUNWAY_HOST": "127.0.0.1",
        "RUNWAY_PORT": str(port),
        "RUNWAY_DATA_DIR": str(tmp_path / "data"),
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUNWAY_")}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RUNWAY, "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**base, "HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1", **env},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            # The simulated cluster answers from this event loop: wait without blocking it.
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.1)
            # The public Ingress carries /metrics too: it wants the installation's token.
            assert (await client.get("/metrics")).status_code == 401
            metrics_token = env["RUNWAY_METRICS_TOKEN"]
            scraped = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {metrics_token}"}
            )
            assert scraped.status_code == 200 and "runway_deployments" in scraped.text
            (token,) = TOKEN_LINE.findall(log.read_text())
            made = await client.post(
                "/api/v1/setup",
                json={"setup_token": token, "username": "ann", "password": PASSWORD},
            )
            assert made.status_code == 201, made.text
            client.headers["Authorization"] = f"Bearer {made.json()['token']}"

            made = await client.post("/api/v1/environments", json={"name": "staging"})
            assert made.status_code == 201, made.text
            namespace = made.json()["namespace"]

            # The environment is bound to the installation's ServiceAccount and tenant role,
            # and admits the ingress controller's namespace given at install.
            binding = await cluster.get(
                f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/runway"
            )
            assert binding is not None
            assert binding["roleRef"]["name"] == "runway:tools:tenant"
            assert [(s["name"], s["namespace"]) for s in binding["subjects"]] == [
                ("runway", "tools")
            ]
            assert await cluster.get(
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/runway:tools:tenant"
            )
            policy = await cluster.get(
                f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/runway"
            )
            assert policy is not None
            assert {"kubernetes.io/metadata.name": "traefik"} in [
                peer.get("namespaceSelector", {}).get("matchLabels")
                for peer in policy["spec"]["ingress"][0]["from"]
            ]

            made = await client.post(
                "/api/v1/environments/staging/deployments",
                content=HELLO,
                headers={"Content-Type": "application/yaml"},
            )
            assert made.status_code == 201, made.text
            ident = made.json()["id"]
            started = await client.post(f"/api/v1/deployments/{ident}/start")
            assert started.status_code in (200, 202), started.text
            deadline = time.monotonic() + 60
            while True:
                found = (await client.get(f"/api/v1/deployments/{ident}")).json()
                if found["status"] == "succeeded":
                    break
                assert found["status"] not in ("failed", "cancelled"), found
                assert time.monotonic() < deadline, found
                await asyncio.sleep(0.1)
        app = await cluster.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/hello-web")
        assert app is not None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 15)
    assert "Traceback" not in log.read_text()
