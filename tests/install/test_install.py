"""`runway install` against the simulated cluster: what `--dry-run` prints is accepted under
strict validation, installing makes a runway that becomes ready, again keeps its database
password, its setup token is found in its pods' log, and uninstalling keeps the data unless
told otherwise."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from runway.cli import main
from runway.deploy.apply import apply, object_path
from runway.deploy.connection import Cluster, connect
from runway.deploy.errors import PermanentError
from runway.install import (
    InstallError,
    InstallOptions,
    check,
    find_setup_token,
    install,
    render,
    uninstall,
    wait_until_ready,
)
from runway.install.manifests import DATABASE_CLAIM, DATABASE_SECRET
from runway.install.meta import METRICS_SECRET
from runway.simcluster import SimCluster
from runway.simcluster.controllers.pods import container_of

pytestmark = pytest.mark.anyio

URL = "https://runway.example.com"
VARIANTS = {
    "own database, cert-manager, ssh": [
        "--cert-manager-issuer=letsencrypt",
        "--ssh-port=2222",
        "--storage-class=standard",
        "--ingress-class=nginx",
        "--default-quota=pods=20",
        "--apps-domain=apps.example.com",
    ],
    "existing database, tls secret": [
        "--database-url=postgresql://runway:pw@db.example.com/runway",
        "--tls-secret=runway-cert",
        "--namespace=runway-two",
    ],
}


def dry_run(capsys: pytest.CaptureFixture[str], *flags: str) -> list[dict[str, Any]]:
    assert main(["install", "--dry-run", f"--public-url={URL}", *flags]) == 0
    return [doc for doc in yaml.safe_load_all(capsys.readouterr().out) if doc]


@pytest.mark.parametrize("variant", VARIANTS)
async def test_every_object_of_the_dry_run_is_accepted_under_strict_validation(
    cluster: Cluster, capsys: pytest.CaptureFixture[str], variant: str
):
    objects = dry_run(capsys, *VARIANTS[variant])
    kinds = [o["kind"] for o in objects]
    assert kinds[:3] == ["Namespace", "ServiceAccount", "ClusterRole"]
    assert ("StatefulSet" in kinds) == ("--database-url" not in str(VARIANTS[variant]))
    for manifest in objects:
        answer = await apply(cluster, manifest)  # fieldValidation=Strict
        assert answer["metadata"]["name"] == manifest["metadata"]["name"]

    # The same apply refuses what a real API server refuses: this test can fail.
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(PermanentError, match="livenessprobe"):
        await apply(cluster, deployment)


def secret_value(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


async def test_install_is_ready_again_keeps_its_password_and_uninstall_keeps_the_data(
    sim: SimCluster, cluster: Cluster
):
    options = check(InstallOptions(public_url=URL, cert_manager_issuer="letsencrypt"))
    said: list[str] = []
    await install(cluster, options, said.append)
    assert "applied Deployment runway in runway" in said
    assert "Deployment runway: 2 of 2 replicas available" in await wait_until_ready(
        cluster, options, 30
    )
    secret_path = f"/api/v1/namespaces/runway/secrets/{DATABASE_SECRET}"
    secret = await cluster.get(secret_path)
    assert secret is not None
    password = secret_value(secret, "password")
    assert len(password) >= 24
    assert secret_value(secret, "url") == (
        f"postgresql://runway:{password}@runway-postgres.runway.svc:5432/runway"
    )
    runway = await cluster.get("/apis/apps/v1/namespaces/runway/deployments/runway")
    assert runway is not None and password not in str(runway)  # only a secretKeyRef
    metrics_path = f"/api/v1/namespaces/runway/secrets/{METRICS_SECRET}"
    metrics = await cluster.get(metrics_path)
    assert metrics is not None
    token = secret_value(metrics, "token")
    assert len(token) >= 24 and token not in str(runway) and token != password

    # Installing again (an upgrade) keeps the password the data was made with, and the token
    # scrapers were given.
    await install(cluster, options, said.append)
    again = await cluster.get(secret_path)
    assert again is not None and secret_value(again, "password") == password
    again = await cluster.get(metrics_path)
    assert again is not None and secret_value(again, "token") == token

    # Uninstalled, the database stays; installed again, it opens with the same password.
    said.clear()
    await uninstall(cluster, "runway", False, said.append)
    assert await cluster.get("/apis/apps/v1/namespaces/runway/deployments/runway") is None
    assert await cluster.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/runway") is None
    claim = f"/api/v1/namespaces/runway/persistentvolumeclaims/{DATABASE_CLAIM}"
    assert await cluster.get(claim) is not None
    assert any(line.startswith("kept PersistentVolumeClaim") for line in said)
    await install(cluster, options, said.append)
    kept = await cluster.get(secret_path)
    assert kept is not None and secret_value(kept, "password") == password

    kept = await cluster.get(metrics_path)
    assert kept is not None and secret_value(kept, "token") == token

    await uninstall(cluster, "runway", True, said.append)
    assert await cluster.get(secret_path) is None
    assert await cluster.get(metrics_path) is None
    namespace = await cluster.get("/api/v1/namespaces/runway")
    assert namespace is None or namespace["metadata"].get("deletionTimestamp")


async def test_uninstall_leaves_what_the_installer_did_not_make(cluster: Cluster):
    foreign = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "runway"},
        "rules": [],
    }
    await apply(cluster, foreign)
    said: list[str] = []
    await uninstall(cluster, "runway", True, said.append)
    assert said == ["left ClusterRole runway: not made by runway install"]
    assert await cluster.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/runway")


async def test_the_setup_token_is_found_in_the_log_of_the_pod_that_printed_it(
    sim: SimCluster, cluster: Cluster, caplog: pytest.LogCaptureFixture
):
    options = check(InstallOptions(public_url="http://runway.example.com"))
    await install(cluster, options, lambda _: None)
    await wait_until_ready(cluster, options, 30)
    assert await find_setup_token(cluster, "runway") is None

    # What `runway serve` logs on a fresh database, written by one of the two pods.
    line = await announced_setup_token(caplog)
    pods = await cluster.request(
        "GET",
        "/api/v1/namespaces/runway/pods",
        query=[("labelSelector", "app.kubernetes.io/component=server")],
    )
    server = pods["items"][-1]
    container = container_of(sim, server, "runway")
    assert container is not None
    for text in line.splitlines():
        container.say(text)

    found = await find_setup_token(cluster, "runway")
    assert found is not None
    assert found.pod == server["metadata"]["name"]
    assert found.token in line and len(found.token) >= 20


async def announced_setup_token(caplog: pytest.LogCaptureFixture) -> str:
    """The log line runway serve writes for its setup token on a fresh database (SQLite)."""
    import tempfile
    from pathlib import Path

    from runway.cli.serving import announce_setup_token
    from runway.http import Settings
    from runway.store import Store, sqlite_url

    with tempfile.TemporaryDirectory() as directory:
        url = sqlite_url(Path(directory))
        store = await Store.open(url)
        try:
            with caplog.at_level(logging.WARNING, logger="runway"):
                await announce_setup_token(store, Settings(database_url=url, public_url=URL))
        finally:
            await store.close()
    (record,) = [r for r in caplog.records if "setup token" in r.getMessage()]
    return record.getMessage()


async def test_the_commands_install_find_no_token_yet_and_uninstall(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    kube = f"--kube={tmp_path / 'sim.kubeconfig'}"  # the `cluster` fixture wrote it
    flags = ["install", kube, "--public-url=http://runway.example.com", "--timeout=30"]
    # The commands run their own event loop: in a thread, beside the simulator's.
    assert await asyncio.to_thread(main, flags) == 0
    out = capsys.readouterr().out
    assert "runway is ready at http://runway.example.com" in out
    assert "runway install --show-setup-token" in out

    assert await asyncio.to_thread(main, ["install", kube, "--show-setup-token"]) == 1
    assert "runway setup --new-token" in capsys.readouterr().err

    assert await asyncio.to_thread(main, ["uninstall", kube]) == 0
    out = capsys.readouterr().out
    assert "deleted Deployment runway" in out and "kept PersistentVolumeClaim" in out
    assert await asyncio.to_thread(main, ["uninstall", "--kube=/nowhere/kubeconfig"]) == 1
    assert "no kubeconfig at /nowhere/kubeconfig" in capsys.readouterr().err


REAL = os.environ.get("RUNWAY_TEST_KUBECONFIG")


@pytest.mark.skipif(not REAL, reason="RUNWAY_TEST_KUBECONFIG does not name a real cluster")
async def test_a_real_cluster_accepts_every_object_of_the_dry_run(
    capsys: pytest.CaptureFixture[str],
):
    """Server-side dry run (nothing is stored), its namespaced objects moved to the namespace
    `default` that exists (the installer itself refuses to install there)."""
    objects = dry_run(capsys, *VARIANTS["own database, cert-manager, ssh"])
    for manifest in objects:
        if manifest["metadata"].get("namespace"):
            manifest["metadata"]["namespace"] = "default"
    query = [
        ("fieldManager", "runway-install-test"),
        ("fieldValidation", "Strict"),
        ("force", "true"),
        ("dryRun", "All"),
    ]
    assert REAL is not None
    async with await connect(REAL) as cluster:
        for manifest in objects:
            await cluster.request(
                "PATCH",
                object_path(manifest),
                query=query,
                body=manifest,
                content_type="application/apply-patch+yaml",
            )


class RefusingCluster:
    """A cluster that refuses every object, quoting it whole (as a real one may)."""

    async def get(self, path: str) -> None:
        return None

    async def request(self, method: str, path: str, **given: Any) -> dict[str, Any]:
        raise PermanentError(f"refused {given.get('body')}")


async def test_a_refusal_quoting_the_database_secret_does_not_carry_its_password_out():
    options = check(InstallOptions(public_url="http://runway.example.com"))
    with pytest.raises(InstallError) as refused:
        await install(RefusingCluster(), options, lambda _: None)  # type: ignore[arg-type]
    assert "Namespace runway" in refused.value.message
    # The namespace came first: now make only the Secret be refused.
    cluster = RefusingCluster()
    secret_only = {"seen": 0}

    async def request(method: str, path: str, **given: Any) -> dict[str, Any]:
        if "/secrets/" in path:
            raise PermanentError(f"refused {given.get('body')}")
        secret_only["seen"] += 1
        return dict(given.get("body") or {})

    cluster.request = request  # type: ignore[method-assign]
    with pytest.raises(InstallError) as refused:
        await install(cluster, options, lambda _: None)  # type: ignore[arg-type]
    message = refused.value.message
    assert "Secret runway-database" in message and "[secret]" in message
    kinds = [o["kind"] for o in render(options, "pw", "tk")]
    assert "postgresql://" not in message and secret_only["seen"] == kinds.index("Secret")

    # The same for the metrics token's Secret.
    cluster = RefusingCluster()

    async def refuse_metrics(method: str, path: str, **given: Any) -> dict[str, Any]:
        if path.endswith(f"/secrets/{METRICS_SECRET}") and method != "GET":
            raise PermanentError(f"refused {given.get('body')}")
        return dict(given.get("body") or {})

    cluster.request = refuse_metrics  # type: ignore[method-assign]
    with pytest.raises(InstallError) as refused:
        await install(cluster, options, lambda _: None)  # type: ignore[arg-type]
    message = refused.value.message
    assert f"Secret {METRICS_SECRET}" in message
    assert "'token': '[secret]'" in message, message
