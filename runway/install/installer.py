"""Installing runway into a cluster, removing it, and finding its setup token: through
runway.deploy, with the server-side apply that deployments use (runway.deploy.apply)."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runway.deploy.apply import apply, object_path, retrying
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError, NotFound
from runway.deploy.logs import workload_logs
from runway.deploy.waiting import wait_ready
from runway.install.manifests import (
    DATABASE_CLAIM,
    DATABASE_SECRET,
    INSTALLER,
    MANAGED_BY,
    POSTGRES,
    database_url,
    deployment,
    render,
)
from runway.install.options import InstallError, InstallOptions

Say = Callable[[str], None]

SETUP_TOKEN = re.compile(r"One-time setup token \(valid until ([^)]*)\): (\S+)")
"""How `runway serve` writes the setup token to its log (runway.cli.serving)."""
TOKEN_ELSEWHERE = "another instance made the setup token"
PASSWORD_BYTES = 24


def _what(manifest: dict[str, Any]) -> str:
    meta = manifest.get("metadata") or {}
    where = f" in {meta['namespace']}" if meta.get("namespace") else ""
    return f"{manifest.get('kind')} {meta.get('name')}{where}"


def _problem(what: str, error: DeployError) -> InstallError:
    return InstallError(f"{what}: {error}")


async def existing_password(cluster: Cluster, namespace: str) -> str | None:
    """The password of runway's own Postgres when an installation made one already: a new
    one would not open the data its volume keeps."""
    path = f"/api/v1/namespaces/{namespace}/secrets/{DATABASE_SECRET}"
    try:
        found = await retrying(lambda: cluster.get(path))
    except DeployError as error:
        raise _problem(f"reading the Secret {DATABASE_SECRET}", error) from None
    encoded = ((found or {}).get("data") or {}).get("password")
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InstallError(
            f"the Secret {DATABASE_SECRET} in {namespace} holds a password runway cannot "
            "read; delete it only if the database's data can go too"
        ) from None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def new_password() -> str:
    """A database password (URL-safe: it goes into the database URL as it is)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


async def install(cluster: Cluster, options: InstallOptions, say: Say) -> list[dict[str, Any]]:
    """Apply every object of the installation, in order; the objects as applied. Applying
    again (an upgrade, a changed option) changes only what differs; the database password of
    an earlier installation is kept. InstallError names the object the cluster refused."""
    password = None
    if options.database_url is None:
        password = await existing_password(cluster, options.namespace) or new_password()
    applied = []
    for manifest in render(options, password):
        try:
            applied.append(await apply(cluster, manifest))
        except DeployError as error:
            problem = _problem(f"applying the {_what(manifest)}", error)
            if password:  # a refusal that quotes the Secret must not carry the password out
                url = database_url(options, password)
                for form in (url, password, *(_b64(text) for text in (url, password))):
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
    then runway, its database, its rights; the data last (and only when asked)."""
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        Removal("networking.k8s.io/v1", "Ingress", "runway"),
        Removal("v1", "Service", "runway"),
        Removal("policy/v1", "PodDisruptionBudget", "runway"),
        Removal("apps/v1", "Deployment", "runway"),
        Removal("apps/v1", "StatefulSet", POSTGRES),
        Removal("v1", "Service", POSTGRES),
        Removal(rbac, "ClusterRoleBinding", namespace, namespaced=False),
        Removal(rbac, "ClusterRole", namespace, namespaced=False),
        Removal(rbac, "ClusterRole", f"{namespace}-tenant", namespaced=False),
        Removal("v1", "ServiceAccount", "runway"),
        Removal("v1", "Secret", DATABASE_SECRET, data=True),
        Removal("v1", "PersistentVolumeClaim", DATABASE_CLAIM, data=True),
        Removal("v1", "Namespace", namespace, namespaced=False, data=True),
    ]


async def uninstall(cluster: Cluster, namespace: str, delete_data: bool, say: Say) -> list[str]:
    """Delete the installation in `namespace`; the objects deleted. The database's Secret and
    volume, and so the namespace, stay unless `delete_data`. Objects the installer did not
    make (no `app.kubernetes.io/managed-by=runway-install` label) are left alone, and so are
    the environments' namespaces with everything running in them."""
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
        labels = (found.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY) != INSTALLER:
            say(f"left {what}: not made by runway install")
            continue
        if removal.data and not delete_data:
            say(f"kept {what}: it holds the database (--delete-data removes it)")
            continue
        query = [("propagationPolicy", "Background")]
        try:
            await retrying(lambda: cluster.request("DELETE", path, query=query))  # noqa: B023
        except NotFound:
            continue
        except DeployError as error:
            raise _problem(f"deleting the {what}", error) from None
        say(f"deleted {what}")
        deleted.append(what)
    return deleted


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
