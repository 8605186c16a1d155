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
BACKUP_OF = "runway.dev/backup-of"
"""On a backup PVC or snapshot: the claim it backs up."""
BACKUP_DEPLOYMENT = "runway.dev/backup-deployment"
"""On a backup PVC or snapshot: the number of the deployment whose restore point it is."""
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


def backup_annotations(claim: str, deployment: int) -> dict[str, str]:
    return {BACKUP_OF: claim, BACKUP_DEPLOYMENT: str(deployment)}


async def read(cluster: Cluster, path: str) -> dict[str, Any] | None:
    return await retrying(lambda: cluster.get(path))


async def create_once(
    cluster: Cluster, collection: str, manifest: dict[str, Any], *, manager: str = "runway"
) -> dict[str, Any]:
    """Create the object unless one of its name exists (a resumed backup made it already).
    An object of a backup (labelled with RESTORE_POINT_OF) found under its name must carry
    that label and its annotations: otherwise it is something else that happens to have the
    name (an app's volume named like a backup, say), never to be written over or pruned, and
    BackupFailed says so."""
    path = f"{collection}/{manifest['metadata']['name']}"
    found = await read(cluster, path)
    if found is not None:
        return _same_backup(found, manifest)

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
        return _same_backup(found, manifest)


def _same_backup(found: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """`found`, when it is the object `manifest` describes (see `create_once`)."""
    wanted = manifest["metadata"]
    app = (wanted.get("labels") or {}).get(RESTORE_POINT_OF)
    if app is None:
        return found
    meta = found.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if (meta.get("labels") or {}).get(RESTORE_POINT_OF) == app and all(
        annotations.get(key) == value for key, value in (wanted.get("annotations") or {}).items()
    ):
        return found
    said = ", ".join(f"{k}={v}" for k, v in (wanted.get("annotations") or {}).items())
    raise BackupFailed(
        f"a {manifest['kind']} named {wanted['name']} exists already and is not this backup of "
        f"app '{app}'{f' ({said})' if said else ''}: runway does not overwrite it; rename the "
        "volume or delete that object"
    )


async def delete(cluster: Cluster, path: str, *, propagation: str | None = None) -> None:
    """Delete the object at `path` (gone already is fine); `propagation`: `Background` or
    `Foreground` (the object stays until its dependents are gone)."""
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if propagation is not None:
        body["propagationPolicy"] = propagation
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


async def scale_to_zero(
    cluster: Cluster, namespace: str, name: str, found: dict[str, Any] | None = None
) -> int | None:
    """Scale the Deployment to zero, noting its replicas on it first; the replicas it had
    (None when there is no such Deployment). Found at zero with a note already (a backup or a
    stop resumed by another instance), the note holds. `found`: the Deployment as the caller
    just read it (else it is read here)."""
    path = deployment_path(namespace, name)
    if found is None:
        found = await read(cluster, path)
    if found is None:
        return None
    noted = _noted(found)
    replicas = noted if noted is not None else int(found["spec"].get("replicas", 1))
    patch = {"metadata": {"annotations": {REPLICAS_BEFORE: str(replicas)}}, "spec": {"replicas": 0}}
    await retrying(
        lambda: cluster.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )
    )
    return replicas


async def scale_back(
    cluster: Cluster, namespace: str, name: str, replicas: int | None
) -> int | None:
    """Give the Deployment back the replicas it had before `scale_to_zero` (noted on it, else
    `replicas`); the replicas it has now (None: no such Deployment). One that was scaled up
    since (an apply, someone's kubectl) keeps its replicas, its note dropped."""
    path = deployment_path(namespace, name)
    found = await read(cluster, path)
    if found is None:
        return None
    current = int(found["spec"].get("replicas", 1))
    noted = _noted(found)
    wanted = noted if noted is not None else replicas if current == 0 else current
    if wanted is None:
        return current
    if wanted != current or _note(found) is not None:
        await _patch_deployment(cluster, path, {"replicas": wanted})
    return wanted


async def forget_replicas(cluster: Cluster, namespace: str, name: str) -> None:
    """Drop the replicas `scale_to_zero` noted on the Deployment, leaving it at zero (the next
    apply of its service gives it the replicas its configuration says)."""
    path = deployment_path(namespace, name)
    found = await read(cluster, path)
    if found is not None and _note(found) is not None:
        await _patch_deployment(cluster, path, {})


def _note(found: dict[str, Any]) -> str | None:
    note = (found["metadata"].get("annotations") or {}).get(REPLICAS_BEFORE)
    return str(note) if note is not None else None


def _noted(found: dict[str, Any]) -> int | None:
    """The replicas `scale_to_zero` noted on the Deployment, while it is still at zero: one
    scaled since has a note that is no longer true (left by a stop or a backup that failed
    half-way), and one that is not a number is nobody's."""
    note = _note(found)
    if note is None or not note.isdecimal() or int(found["spec"].get("replicas", 1)) != 0:
        return None
    return int(note)


async def _patch_deployment(cluster: Cluster, path: str, spec: dict[str, Any]) -> None:
    """Merge `spec` into the Deployment's and drop its note of replicas."""
    patch = {"metadata": {"annotations": {REPLICAS_BEFORE: None}}, "spec": spec}
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
                            # Root, to keep every file's owner. A volume holds files of any
                            # owner and mode (Postgres's 0700 directory of uid 999, say):
                            # copying them as they are takes CAP_DAC_OVERRIDE (read and
                            # delete them), CAP_CHOWN (give them their owners), CAP_FOWNER
                            # (their modes and times) and CAP_FSETID (setgid bits), which
                            # only root holds in a pod. Environments' namespaces enforce
                            # Pod Security `baseline` (runway.deploy.environment_objects),
                            # which admits this Job; `restricted` (only warned there, so the
                            # API server warns on this Job) requires runAsNonRoot and drops
                            # every capability but NET_BIND_SERVICE: no copy that keeps
                            # owners can run under it, and a non-root copy would give every
                            # file to one user, breaking the app that owns the volume.
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

    try:
        await until(
            cluster, jobs_path(namespace, name), done, timeout=timeout, what=f"the copy Job {name}"
        )
    except BaseException as error:  # timed out, failed or cancelled
        try:
            await _remove_job(cluster, namespace, name, timeout=timeout)
        except DeployError as left:
            raise BackupFailed(
                f"{error}; and the copy Job {name} is still there: {left}"
            ) from error
        raise
    await delete(cluster, jobs_path(namespace, name), propagation="Background")


async def _remove_job(cluster: Cluster, namespace: str, name: str, *, timeout: float) -> None:
    """Delete the copy Job and wait until it is gone with its pods (Foreground): a copy left
    running would go on writing into a volume the app gets back, and a retry would find the
    failed Job under its name."""
    path = jobs_path(namespace, name)
    await delete(cluster, path, propagation="Foreground")

    def gone(found: dict[str, Any] | None) -> str | None:
        return None if found is None else "its pods are still being deleted"

    await until(cluster, path, gone, timeout=timeout, what=f"deleting the copy Job {name}")
