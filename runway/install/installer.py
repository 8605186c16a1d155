"""Installing runway into a cluster, removing it, and finding its setup token: through
runway.deploy, with the server-side apply that deployments use (runway.deploy.apply)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runway.deploy.apply import apply, object_path, retrying
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError, NotFound
from runway.deploy.logs import workload_logs
from runway.deploy.waiting import wait_ready
from runway.install.manifests import database_url, deployment, render
from runway.install.meta import (
    DATABASE_CLAIM,
    DATABASE_SECRET,
    INSTALLER,
    MANAGED_BY,
    METRICS_SECRET,
    POSTGRES,
    SERVER_LABELS,
)
from runway.install.options import InstallError, InstallOptions, cluster_names

Say = Callable[[str], None]

SETUP_TOKEN = re.compile(r"One-time setup token \(valid until ([^)]*)\): (\S+)")
"""How `runway serve` writes the setup token to its log (runway.cli.serving)."""
TOKEN_ELSEWHERE = "another instance made the setup token"
PASSWORD_BYTES = 24
POD_WAIT = 120.0
"""Seconds uninstall waits for runway's pods to stop (their grace period is 30)."""
POD_POLL = 0.5


def _what(manifest: dict[str, Any]) -> str:
    meta = manifest.get("metadata") or {}
    where = f" in {meta['namespace']}" if meta.get("namespace") else ""
    return f"{manifest.get('kind')} {meta.get('name')}{where}"


def _problem(what: str, error: DeployError) -> InstallError:
    return InstallError(f"{what}: {error}")


async def existing_password(cluster: Cluster, namespace: str) -> str | None:
    """The password of runway's own Postgres when an installation made one already: a new
    one would not open the data its volume keeps."""
    return await _existing(
        cluster,
        namespace,
        DATABASE_SECRET,
        "password",
        "delete it only if the database's data can go too",
    )


async def existing_metrics_token(cluster: Cluster, namespace: str) -> str | None:
    """The token of `/metrics` when an installation made one already: kept, so that the
    scrapers given it go on working after an upgrade."""
    return await _existing(
        cluster,
        namespace,
        METRICS_SECRET,
        "token",
        "delete it and install again for a new one, then restart runway's pods "
        f"(kubectl -n {namespace} rollout restart deployment/runway)",
    )


async def _existing(
    cluster: Cluster, namespace: str, secret: str, key: str, advice: str
) -> str | None:
    path = f"/api/v1/namespaces/{namespace}/secrets/{secret}"
    try:
        found = await retrying(lambda: cluster.get(path))
    except DeployError as error:
        raise _problem(f"reading the Secret {secret}", error) from None
    encoded = ((found or {}).get("data") or {}).get(key)
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InstallError(
            f"the Secret {secret} in {namespace} holds a {key} runway cannot read; {advice}"
        ) from None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def new_password() -> str:
    """A database password (URL-safe: it goes into the database URL as it is)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


async def _read(cluster: Cluster, manifest: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return await retrying(lambda: cluster.get(object_path(manifest)))
    except DeployError as error:
        raise _problem(f"reading the {_what(manifest)}", error) from None


def _installed(found: dict[str, Any]) -> bool:
    labels = (found.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY) == INSTALLER)


async def refuse_others(cluster: Cluster, manifests: list[dict[str, Any]]) -> None:
    """InstallError, before anything is applied, when an object of the installation exists
    already without the installer's label: server-side apply would take it over (a built-in
    ClusterRole, another tool's namespace), and `runway uninstall` would then delete it."""
    for manifest in manifests:
        found = await _read(cluster, manifest)
        if found is not None and not _installed(found):
            raise InstallError(
                f"the {_what(manifest)} exists and was not made by runway install (no label "
                f"{MANAGED_BY}={INSTALLER}): runway will not take it over; choose another "
                "--namespace, or remove that object if it is not needed"
            )


async def refuse_database_switch(cluster: Cluster, options: InstallOptions) -> None:
    """InstallError when --database-url is given where runway's own Postgres still is: its
    StatefulSet needs the password the switch would drop from the Secret, and its data would
    be left behind unused."""
    if options.database_url is None:
        return
    namespace = options.namespace
    for what, path in (
        (
            f"StatefulSet {POSTGRES}",
            f"/apis/apps/v1/namespaces/{namespace}/statefulsets/{POSTGRES}",
        ),
        (
            f"PersistentVolumeClaim {DATABASE_CLAIM}",
            f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{DATABASE_CLAIM}",
        ),
    ):
        try:
            found = await retrying(lambda: cluster.get(path))  # noqa: B023 (awaited at once)
        except DeployError as error:
            raise _problem(f"reading the {what}", error) from None
        if found is not None:
            raise InstallError(
                f"--database-url: runway's own Postgres is installed in {namespace} (its {what} "
                "is there): install again without --database-url to keep it, or move the data "
                f"to the other database yourself, then `runway uninstall --namespace {namespace} "
                "--delete-data` (which deletes runway's own database for good) and install "
                "with --database-url"
            )


async def install(cluster: Cluster, options: InstallOptions, say: Say) -> list[dict[str, Any]]:
    """Apply every object of the installation, in order; the objects as applied. Applying
    again (an upgrade, a changed option) changes only what differs; the database password of
    an earlier installation is kept. InstallError names the object the cluster refused, or
    one that exists without being the installer's (nothing is applied then)."""
    await refuse_database_switch(cluster, options)
    password = None
    if options.database_url is None:
        password = await existing_password(cluster, options.namespace) or new_password()
    token = await existing_metrics_token(cluster, options.namespace) or new_password()
    manifests = render(options, password, token)
    await refuse_others(cluster, manifests)
    applied = []
    for manifest in manifests:
        try:
            applied.append(await apply(cluster, manifest))
        except DeployError as error:
            problem = _problem(f"applying the {_what(manifest)}", error)
            # A refusal that quotes a Secret must not carry its values out.
            hidden = [token, *((database_url(options, password), password) if password else ())]
            for form in sorted({*hidden, *map(_b64, hidden)}, key=len, reverse=True):
                problem.message = problem.message.replace(form, "[secret]")
            raise InstallError(problem.message) from None
        say(f"applied {_what(manifest)}")
    return applied


async def wait_until_ready(cluster: Cluster, options: InstallOptions, timeout: float) -> str:
    """Wait for runway's Deployment to be ready (its pods answer /readyz: the database is
    reachable and migrated); what readiness said. InstallError after `timeout` seconds."""
    try:
        ready = await wait_ready(cluster, deployment(options), timeout=timeout)
    except DeployError as error:
        raise InstallError(f"runway did not become ready: {error}") from None
    return ready.reason


@dataclass(frozen=True, slots=True)
class Removal:
    """One object `runway uninstall` deletes, and whether only with `--delete-data`."""

    api_version: str
    kind: str
    name: str
    namespaced: bool = True
    data: bool = False


def removals(namespace: str) -> list[Removal]:
    """What an installation in `namespace` made, in the order it is removed: traffic first,
    then runway (whose pods are waited for), its database, its rights; the data last (and
    only when asked)."""
    rbac = "rbac.authorization.k8s.io/v1"
    admission = "admissionregistration.k8s.io/v1"
    role, tenant, policy = cluster_names(namespace)
    return [
        Removal("networking.k8s.io/v1", "Ingress", "runway"),
        Removal("v1", "Service", "runway"),
        Removal("policy/v1", "PodDisruptionBudget", "runway"),
        Removal("apps/v1", "Deployment", "runway"),
        Removal("apps/v1", "StatefulSet", POSTGRES),
        Removal("v1", "Service", POSTGRES),
        Removal("networking.k8s.io/v1", "NetworkPolicy", "runway-server"),
        Removal("networking.k8s.io/v1", "NetworkPolicy", POSTGRES),
        Removal(rbac, "ClusterRoleBinding", role, namespaced=False),
        Removal(rbac, "ClusterRole", role, namespaced=False),
        Removal(rbac, "ClusterRole", tenant, namespaced=False),
        Removal(admission, "ValidatingAdmissionPolicyBinding", policy, namespaced=False),
        Removal(admission, "ValidatingAdmissionPolicy", policy, namespaced=False),
        Removal("v1", "ServiceAccount", "runway"),
        Removal("v1", "Secret", DATABASE_SECRET, data=True),
        Removal("v1", "Secret", METRICS_SECRET, data=True),
        Removal("v1", "PersistentVolumeClaim", DATABASE_CLAIM, data=True),
        Removal("v1", "Namespace", namespace, namespaced=False, data=True),
    ]


async def uninstall(
    cluster: Cluster,
    namespace: str,
    delete_data: bool,
    say: Say,
    timeout: float = POD_WAIT,
) -> list[str]:
    """Delete the installation in `namespace`; the objects deleted. runway's Deployment goes
    with Foreground propagation and its pods are waited for (at most `timeout` seconds) before
    its database and rights go: a stopping pod must not find them gone. The database's Secret
    and volume, and so the namespace, stay unless `delete_data`. Objects the installer did
    not make (no `app.kubernetes.io/managed-by=runway-install` label) are left alone, and so
    are the environments' namespaces with everything running in them."""
    deleted = []
    for removal in removals(namespace):
        meta = {"name": removal.name, "namespace": namespace if removal.namespaced else None}
        manifest = {"apiVersion": removal.api_version, "kind": removal.kind, "metadata": meta}
        path = object_path(manifest)
        what = f"{removal.kind} {removal.name}"
        try:
            found = await retrying(lambda: cluster.get(path))  # noqa: B023 (awaited at once)
        except DeployError as error:
            raise _problem(f"reading the {what}", error) from None
        if found is None:
            continue
        if not _installed(found):
            say(f"left {what}: not made by runway install")
            continue
        if removal.data and not delete_data:
            say(f"kept {what}: it holds the database (--delete-data removes it)")
            continue
        server = removal.kind == "Deployment"
        query = [("propagationPolicy", "Foreground" if server else "Background")]
        try:
            await retrying(lambda: cluster.request("DELETE", path, query=query))  # noqa: B023
        except NotFound:
            continue
        except DeployError as error:
            raise _problem(f"deleting the {what}", error) from None
        say(f"deleted {what}")
        deleted.append(what)
        if server:
            await wait_for_servers_gone(cluster, namespace, timeout)
            say("runway's pods have stopped")
    return deleted


async def wait_for_servers_gone(cluster: Cluster, namespace: str, timeout: float) -> None:
    """Wait until no pod of runway's server is left in `namespace`; InstallError after
    `timeout` seconds (nothing more is deleted then: run uninstall again)."""
    selector = ",".join(f"{key}={value}" for key, value in SERVER_LABELS.items())
    path = f"/api/v1/namespaces/{namespace}/pods"
    deadline = time.monotonic() + timeout
    while True:
        try:
            pods = await retrying(
                lambda: cluster.request("GET", path, query=[("labelSelector", selector)])
            )
        except DeployError as error:
            raise _problem("reading runway's pods", error) from None
        left = [p["metadata"]["name"] for p in (pods or {}).get("items") or ()]
        if not left:
            return
        if time.monotonic() >= deadline:
            raise InstallError(
                f"runway's pods are still stopping after {timeout:g} s ({', '.join(left)}); "
                "its database and rights are left in place: run `runway uninstall` again "
                "once they are gone"
            )
        await asyncio.sleep(POD_POLL)


@dataclass(frozen=True, slots=True)
class SetupToken:
    """The setup token a runway pod printed, and until when it is valid."""

    token: str
    valid_until: str
    pod: str


async def find_setup_token(cluster: Cluster, namespace: str) -> SetupToken | None:
    """The setup token in the logs of runway's pods (the one that made it printed it; the
    others say so), or None when none holds one: runway has a user already, or its pods
    started again since (then `runway setup --new-token` in a pod makes a new one)."""
    found: SetupToken | None = None
    try:
        # Not followed: the reading ends at the end of each log.
        async for line in workload_logs(
            cluster, namespace, "Deployment", "runway", container="runway"
        ):
            match = None if line.notice else SETUP_TOKEN.search(line.text)
            if match:
                found = SetupToken(match.group(2), match.group(1), line.pod)
    except NotFound:
        raise InstallError(f"runway is not installed in namespace {namespace}") from None
    except DeployError as error:
        raise _problem("reading runway's log", error) from None
    return found


async def public_url(cluster: Cluster, namespace: str) -> str | None:
    """The public URL runway's Deployment serves at (RUNWAY_PUBLIC_URL), if it is there."""
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/runway"
    try:
        found = await retrying(lambda: cluster.get(path))
    except DeployError as error:
        raise _problem("reading runway's Deployment", error) from None
    pod = (((found or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or ():
        for variable in container.get("env") or ():
            if variable.get("name") == "RUNWAY_PUBLIC_URL" and variable.get("value"):
                return str(variable["value"])
    return None
