"""What backups and restores do to a namespace's objects: scaling a workload to zero and back,
waiting for its pods to go, creating an object once under a name fixed in advance, running a
copy Job and waiting for objects to reach a state (DESIGN.md, Kubernetes: Restore)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from runway.deploy.apply import MANAGED_BY_LABEL, retrying
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError, PermanentError
from runway.deploy.names import NAME_MAX

POLL = 0.1
"""Seconds between readings of an object a backup or restore waits for."""
REPLICAS_BEFORE = "runway.dev/replicas-before-backup"
"""On a Deployment scaled to zero for a copy: its replicas before, so a resumed backup (which
finds it at zero already) scales it back to what it was."""
RESTORE_POINT_OF = "runway.dev/restore-point-of"
"""The label of backup PVCs, snapshots and copy Jobs: the app they back up. Not `runway.dev/app`,
so pruning an app's objects never takes its backups."""
COPY_LABEL = "runway.dev/copy"
COPY_FROM = "runway.dev/copy-from"
COPY_TO = "runway.dev/copy-to"
COPY_IMAGE = "busybox:1.36"
RESTORE_MANAGER = "runway-restore"
"""The field manager of a PVC recreated from a backup: runway's own applies leave its
`dataSource` alone (an immutable field they do not render)."""


class BackupFailed(DeployError):
    """A backup or restore could not be done; the message says what and why."""


def fit(name: str) -> str:
    """`name` as a DNS label of at most 63 characters: shortened with a digest of the whole."""
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: NAME_MAX - 9].rstrip('-')}-{digest}"


def claims_path(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    return f"{base}/{name}" if name else base


def snapshots_path(namespace: str, name: str = "") -> str:
    base = f"/apis/snapshot.storage.k8s.io/v1/namespaces/{namespace}/volumesnapshots"
    return f"{base}/{name}" if name else base


def jobs_path(namespace: str, name: str = "") -> str:
    base = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    return f"{base}/{name}" if name else base


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def labels(app: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: "runway", RESTORE_POINT_OF: app}


async def read(cluster: Cluster, path: str) -> dict[str, Any] | None:
    return await retrying(lambda: cluster.get(path))


async def create_once(
    cluster: Cluster, collection: str, manifest: dict[str, Any], *, manager: str = "runway"
) -> dict[str, Any]:
    """Create the object unless one of its name exists (a resumed backup made it already)."""
    path = f"{collection}/{manifest['metadata']['name']}"
    found = await read(cluster, path)
    if found is not None:
        return found

    async def post() -> dict[str, Any]:
        return await cluster.request(
            "POST", collection, query=[("fieldManager", manager)], body=manifest
        )

    try:
        return await retrying(post)
    except PermanentError:
        found = await read(cluster, path)  # made meanwhile by an instance before this one
        if found is None:
            raise
        return found


async def delete(cluster: Cluster, path: str, *, background: bool = False) -> None:
    """Delete the object at `path` (gone already is fine)."""
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if background:
        body["propagationPolicy"] = "Background"
    found = await read(cluster, path)
    if found is None or found["metadata"].get("deletionTimestamp"):
        return
    try:
        await retrying(lambda: cluster.request("DELETE", path, body=body))
    except DeployError:
        if await read(cluster, path) is not None:
            raise


async def until(
    cluster: Cluster,
    path: str,
    check: Callable[[dict[str, Any] | None], str | None],
    *,
    timeout: float,
    what: str,
) -> dict[str, Any] | None:
    """Read `path` until `check` says done (None); its last word (a failure) after `timeout`.
    `check` raises BackupFailed for what will never come right."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await read(cluster, path)
        said = check(found)
        if said is None:
            return found
        if loop.time() >= deadline:
            raise BackupFailed(f"{what} not done after {timeout:g} s: {said}")
        await asyncio.sleep(POLL)


async def scale_to_zero(cluster: Cluster, namespace: str, name: str) -> int | None:
    """Scale the Deployment to zero, noting its replicas on it first; the replicas it had
    (None when there is no such Deployment)."""
    path = deployment_path(namespace, name)
    found = await read(cluster, path)
    if found is None:
        return None
    annotations = found["metadata"].get("annotations") or {}
    noted = annotations.get(REPLICAS_BEFORE)
    replicas = int(noted) if noted is not None else int(found["spec"].get("replicas", 1))
    patch = {"metadata": {"annotations": {REPLICAS_BEFORE: str(replicas)}}, "spec": {"replicas": 0}}
    await retrying(
        lambda: cluster.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )
    )
    return replicas


async def scale_back(cluster: Cluster, namespace: str, name: str, replicas: int | None) -> None:
    """Give the Deployment back the replicas it had before `scale_to_zero`."""
    path = deployment_path(namespace, name)
    found = await read(cluster, path)
    if found is None:
        return
    noted = (found["metadata"].get("annotations") or {}).get(REPLICAS_BEFORE)
    wanted = int(noted) if noted is not None else replicas
    if wanted is None:
        return
    patch = {"metadata": {"annotations": {REPLICAS_BEFORE: None}}, "spec": {"replicas": wanted}}
    await retrying(
        lambda: cluster.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )
    )


async def pods_gone(cluster: Cluster, namespace: str, selector: str, *, timeout: float) -> None:
    """Until no unfinished pod matching `selector` is left in the namespace."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    path = f"/api/v1/namespaces/{namespace}/pods"
    while True:
        found = await retrying(
            lambda: cluster.request("GET", path, query=[("labelSelector", selector)])
        )
        left = [
            str(pod["metadata"]["name"])
            for pod in found.get("items") or []
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        if not left:
            return
        if loop.time() >= deadline:
            raise BackupFailed(
                f"the pods {', '.join(left)} were still there after {timeout:g} s of waiting "
                "for them to stop"
            )
        await asyncio.sleep(POLL)


def copy_job(
    namespace: str, name: str, app: str, source: str, target: str, *, wipe: bool
) -> dict[str, Any]:
    """A Job that copies the files of PVC `source` into PVC `target`, owners and modes kept;
    `wipe`: the target holds exactly the source's files afterwards."""
    script = "cp -a /from/. /to/"
    if wipe:
        script = "find /to -mindepth 1 -delete && " + script
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels(app), COPY_LABEL: "true"},
            "annotations": {COPY_FROM: source, COPY_TO: target},
        },
        "spec": {
            "backoffLimit": 2,
            "template": {
                "metadata": {"labels": {**labels(app), COPY_LABEL: "true"}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "copy",
                            "image": COPY_IMAGE,
                            "command": ["sh", "-c", script],
                            # Root, to keep every file's owner.
                            "securityContext": {"runAsUser": 0},
                            "volumeMounts": [
                                {"name": "from", "mountPath": "/from", "readOnly": True},
                                {"name": "to", "mountPath": "/to"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "from", "persistentVolumeClaim": {"claimName": source}},
                        {"name": "to", "persistentVolumeClaim": {"claimName": target}},
                    ],
                },
            },
        },
    }


async def run_copy(
    cluster: Cluster,
    namespace: str,
    name: str,
    app: str,
    source: str,
    target: str,
    *,
    wipe: bool,
    timeout: float,
) -> None:
    """Copy PVC `source` into PVC `target` with a Job named `name`; the Job is deleted after."""
    await create_once(
        cluster, jobs_path(namespace), copy_job(namespace, name, app, source, target, wipe=wipe)
    )

    def done(job: dict[str, Any] | None) -> str | None:
        if job is None:
            return "the copy Job is gone"
        for condition in (job.get("status") or {}).get("conditions") or []:
            if condition.get("status") != "True":
                continue
            if condition.get("type") == "Complete":
                return None
            if condition.get("type") == "Failed":
                raise BackupFailed(
                    f"copying {source} to {target} failed: {condition.get('message') or ''}"
                )
        return "the copy Job has not completed"

    await until(
        cluster, jobs_path(namespace, name), done, timeout=timeout, what=f"the copy Job {name}"
    )
    await delete(cluster, jobs_path(namespace, name), background=True)
