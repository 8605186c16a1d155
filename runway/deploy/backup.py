"""Backing up one volume and putting it back (DESIGN.md, Kubernetes: Restore).

A VolumeSnapshot where the volume's CSI driver has a VolumeSnapshotClass; otherwise a copy Job
into a backup PVC, with the volume's workload scaled to zero for the copy and back after. A
VolumeSnapshot fills only a new PVC, so restoring from one deletes the claim (its pods gone
first) and recreates it under the same name with the snapshot as `dataSource`; restoring from a
copy copies the backup PVC back over the claim. Every object has the name it is given, fixed in
advance by the caller, and is made only once: a resumed backup or restore picks up where the
last one stopped.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec

from runway.config.units import parse_quantity
from runway.deploy.apply import APP_LABEL, retrying
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError, NotFound
from runway.deploy.volume_ops import (
    RESTORE_MANAGER,
    BackupFailed,
    backup_annotations,
    claims_path,
    create_once,
    delete,
    forget_replicas,
    jobs_path,
    labels,
    pods_gone,
    read,
    run_copy,
    scale_back,
    scale_to_zero,
    snapshots_path,
    until,
)

SNAPSHOT = "snapshot"
COPY = "copy"
SNAPSHOT_CLASSES = "/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses"
DEFAULT_SNAPSHOT_CLASS = "snapshot.storage.kubernetes.io/is-default-class"
RESTORED_BY = "runway.dev/restored-by"
"""On a claim made again from a snapshot: the number of the rollback that made it."""


@dataclass(frozen=True, slots=True)
class Taken:
    """What backing up one claim made."""

    method: str
    name: str
    size: str
    storage_class: str | None
    snapshot_class: str | None = None
    replicas: int | None = None


async def claim_of(cluster: Cluster, namespace: str, claim: str) -> dict[str, Any] | None:
    return await read(cluster, claims_path(namespace, claim))


async def snapshot_class_for(
    cluster: Cluster, claim: dict[str, Any], preferred: str | None = None
) -> str | None:
    """The VolumeSnapshotClass for the driver of the claim's volume (`preferred`, the
    installation's, when it is one for that driver; else the default one among several), or
    None: the cluster has no snapshots for it (or none at all)."""
    driver = await _driver(cluster, claim)
    if driver is None:
        return None
    try:
        found = await retrying(lambda: cluster.request("GET", SNAPSHOT_CLASSES))
    except NotFound:
        return None  # no snapshot API in this cluster
    matching = [c for c in found.get("items") or [] if c.get("driver") == driver]
    matching.sort(
        key=lambda c: (
            c["metadata"]["name"] != preferred,
            (c["metadata"].get("annotations") or {}).get(DEFAULT_SNAPSHOT_CLASS) != "true",
        )
    )
    return str(matching[0]["metadata"]["name"]) if matching else None


async def _driver(cluster: Cluster, claim: dict[str, Any]) -> str | None:
    spec = claim.get("spec") or {}
    volume = spec.get("volumeName")
    if volume:
        found = await read(cluster, f"/api/v1/persistentvolumes/{volume}")
        csi = ((found or {}).get("spec") or {}).get("csi") or {}
        if csi.get("driver"):
            return str(csi["driver"])
    class_name = spec.get("storageClassName")
    if class_name:
        found = await read(cluster, f"/apis/storage.k8s.io/v1/storageclasses/{class_name}")
        if found is not None and found.get("provisioner"):
            return str(found["provisioner"])
    return None


def _size(claim: dict[str, Any]) -> str:
    spec = claim.get("spec") or {}
    return str(((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi"))


async def back_up(
    cluster: Cluster,
    namespace: str,
    app: str,
    claim: dict[str, Any],
    *,
    name: str,
    deployment: int,
    workload: str,
    timeout: float,
    snapshot_class: str | None = None,
) -> Taken:
    """Back up the claim as `name` (a snapshot, or a backup PVC filled by the copy Job
    `name`-copy with the Deployment `workload` scaled to zero meanwhile), for the restore
    point of deployment number `deployment`. `snapshot_class`: the installation's, preferred
    for volumes of its driver."""
    claim_name = str(claim["metadata"]["name"])
    storage_class = (claim.get("spec") or {}).get("storageClassName")
    snapshot_class = await snapshot_class_for(cluster, claim, snapshot_class)
    annotations = backup_annotations(claim_name, deployment)
    if snapshot_class is not None:
        await _snapshot(
            cluster, namespace, app, claim_name, name, snapshot_class, annotations, timeout
        )
        return Taken(SNAPSHOT, name, _size(claim), storage_class, snapshot_class)
    # The backup volume first: where the storage quota refuses it, nothing was touched.
    backup = _claim(namespace, name, app, claim, labels(app), None)
    backup["metadata"]["annotations"] = annotations
    await create_once(cluster, claims_path(namespace), backup)
    replicas = await scale_to_zero(cluster, namespace, workload)
    try:
        selector = f"app.kubernetes.io/instance={app}"
        await pods_gone(cluster, namespace, selector + _of_workload(workload, app), timeout=timeout)
        await run_copy(
            cluster,
            namespace,
            f"{name}-copy",
            app,
            claim_name,
            name,
            wipe=True,
            timeout=timeout,
        )
    finally:
        await scale_back(cluster, namespace, workload, replicas)
    return Taken(COPY, name, _size(claim), storage_class, None, replicas)


def _of_workload(workload: str, app: str) -> str:
    """The rest of the selector of one service's pods (`<app>-<service>` names its workload)."""
    service = workload[len(app) + 1 :]
    return f",app.kubernetes.io/name={service}"


async def _snapshot(
    cluster: Cluster,
    namespace: str,
    app: str,
    claim: str,
    name: str,
    snapshot_class: str,
    annotations: dict[str, str],
    timeout: float,
) -> None:
    manifest = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels(app),
            "annotations": annotations,
        },
        "spec": {
            "volumeSnapshotClassName": snapshot_class,
            "source": {"persistentVolumeClaimName": claim},
        },
    }
    await create_once(cluster, snapshots_path(namespace), manifest)

    def ready(found: dict[str, Any] | None) -> str | None:
        if found is None:
            raise BackupFailed(f"the VolumeSnapshot {name} of {claim} was deleted")
        status = found.get("status") or {}
        if (status.get("error") or {}).get("message"):
            raise BackupFailed(f"snapshotting {claim} failed: {status['error']['message']}")
        return None if status.get("readyToUse") else "not ready to use yet"

    await until(
        cluster,
        snapshots_path(namespace, name),
        ready,
        timeout=timeout,
        what=f"the VolumeSnapshot {name} of {claim}",
    )


def _claim(
    namespace: str,
    name: str,
    app: str,
    like: dict[str, Any],
    claim_labels: dict[str, str],
    source: dict[str, Any] | None,
) -> dict[str, Any]:
    """A PVC named `name` of the same class, size and access as `like`."""
    spec = like.get("spec") or {}
    new: dict[str, Any] = {
        "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
        "resources": {"requests": {"storage": _size(like)}},
    }
    if spec.get("storageClassName"):
        new["storageClassName"] = spec["storageClassName"]
    if source is not None:
        new["dataSource"] = source
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": claim_labels},
        "spec": new,
    }


async def backup_exists(cluster: Cluster, namespace: str, method: str, name: str) -> bool:
    """Whether the backup is still in the cluster (and usable: a snapshot ready to use)."""
    if method == SNAPSHOT:
        found = await read(cluster, snapshots_path(namespace, name))
        return found is not None and bool((found.get("status") or {}).get("readyToUse"))
    return await read(cluster, claims_path(namespace, name)) is not None


async def delete_backup(cluster: Cluster, namespace: str, method: str, name: str) -> None:
    path = snapshots_path(namespace, name) if method == SNAPSHOT else claims_path(namespace, name)
    await delete(cluster, path)


async def stop_app(cluster: Cluster, namespace: str, app: str, *, timeout: float) -> None:
    """Scale every Deployment of the app to zero, delete its unfinished Jobs (a Job pod stuck
    pulling its image, say, would never stop on its own) and wait for its pods to go (the next
    apply of the app's services gives them their replicas back). The pods not gone in time (or
    the cluster failing meanwhile), the Deployments get their replicas back and BackupFailed
    says so: no volume was touched.

    Each Deployment's replicas are noted on it before it is scaled (`scale_to_zero`), not kept
    in memory: a stop resumed by another instance, after this one died while the pods went,
    finds them at zero and still knows what to give back. The notes are dropped once the pods
    are gone; one left by a stop that failed half-way is trusted only while its Deployment is
    still at zero (`volume_ops._noted`)."""
    found = await retrying(
        lambda: cluster.request(
            "GET",
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            query=[("labelSelector", f"{APP_LABEL}={app}")],
        )
    )
    workloads = {str(w["metadata"]["name"]): w for w in found.get("items") or []}
    for name, workload in workloads.items():
        await scale_to_zero(cluster, namespace, name, workload)
    try:
        await _delete_unfinished_jobs(cluster, namespace, app)
        await pods_gone(cluster, namespace, f"app.kubernetes.io/instance={app}", timeout=timeout)
    except DeployError as error:
        given = [await scale_back(cluster, namespace, name, None) for name in workloads]
        started = "the app was started again" if any(given) else "the app is left stopped"
        raise BackupFailed(f"{error}; nothing was restored, {started}") from error
    for name in workloads:
        await forget_replicas(cluster, namespace, name)


async def _delete_unfinished_jobs(cluster: Cluster, namespace: str, app: str) -> None:
    """Delete the app's Jobs that neither completed nor failed, their pods with them (finished
    ones are kept with their logs: their pods have stopped already)."""
    found = await retrying(
        lambda: cluster.request(
            "GET", jobs_path(namespace), query=[("labelSelector", f"{APP_LABEL}={app}")]
        )
    )
    for job in found.get("items") or []:
        conditions = (job.get("status") or {}).get("conditions") or []
        if any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in conditions
        ):
            continue
        path = jobs_path(namespace, str(job["metadata"]["name"]))
        await delete(cluster, path, propagation="Background")


P = ParamSpec("P")


def _to_the_end(work: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, Awaitable[None]]:
    """`work`, run to its end even when its caller is cancelled meanwhile: the cancel takes
    effect after it (the work's own cancel, a shutdown, is raised by its result)."""

    @functools.wraps(work)
    async def to_the_end(*args: P.args, **kwargs: P.kwargs) -> None:
        task = asyncio.ensure_future(work(*args, **kwargs))
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
        task.result()  # its failure, if it failed
        if cancelled:
            raise asyncio.CancelledError

    return to_the_end


@_to_the_end
async def restore(
    cluster: Cluster,
    namespace: str,
    app: str,
    *,
    claim: str,
    method: str,
    name: str,
    size: str,
    storage_class: str | None,
    job: str,
    rollback: int,
    timeout: float,
) -> None:
    """Put the claim back as the backup `name` holds it (the app's pods are gone already),
    for the rollback numbered `rollback`. From a snapshot: the claim is deleted and recreated
    from it, at least as big as the snapshot's restore size (a claim found already made from
    that snapshot by this rollback is the work of an earlier, interrupted run of it, and is
    kept; one made by another rollback holds what was written since); from a copy: the backup
    is copied over it by the Job `job`.

    Cancelled meanwhile, the work on the claim still goes to its end and the cancel takes
    effect after it: stopped between deleting the claim and making it again, the app's data
    would be left only in the snapshot, and a half-done copy leaves the volume half wiped."""
    path = claims_path(namespace, claim)
    current = await read(cluster, path)
    if method != SNAPSHOT:
        if current is None:
            raise BackupFailed(f"the volume {claim} is gone: nothing to copy its backup into")
        await run_copy(cluster, namespace, job, app, name, claim, wipe=True, timeout=timeout)
        return
    source = {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": name}
    if (
        current is not None
        and (current.get("spec") or {}).get("dataSource") == source
        and not current["metadata"].get("deletionTimestamp")
        and (current["metadata"].get("annotations") or {}).get(RESTORED_BY) == str(rollback)
    ):
        return  # made from the snapshot by an earlier, interrupted run of this same restore
    # The snapshot read before anything is deleted: gone, the claim is left as it is; and the
    # new claim must be at least as big as what the snapshot holds, or it is never made.
    snapshot = await read(cluster, snapshots_path(namespace, name))
    if snapshot is None:
        raise BackupFailed(f"the VolumeSnapshot {name} is gone: {claim} is left as it is")
    size = _larger(size, str((snapshot.get("status") or {}).get("restoreSize") or size))
    like = current or {"spec": {"storageClassName": storage_class}}
    if current is not None:
        await delete(cluster, path)

        def gone(found: dict[str, Any] | None) -> str | None:
            return None if found is None else "the old volume is still being deleted"

        try:
            await until(cluster, path, gone, timeout=timeout, what=f"deleting the volume {claim}")
        except BackupFailed as error:
            raise BackupFailed(
                f"{error} (a pod outside the app still mounts it?): it is not made again, "
                f"its data is kept in the VolumeSnapshot {name}"
            ) from error
    claim_labels = dict(((current or {}).get("metadata") or {}).get("labels") or {})
    claim_labels = claim_labels or {APP_LABEL: app, "app.kubernetes.io/managed-by": "runway"}
    manifest = _claim(namespace, claim, app, like, claim_labels, source)
    manifest["metadata"]["annotations"] = {RESTORED_BY: str(rollback)}
    manifest["spec"]["resources"] = {"requests": {"storage": size}}
    try:
        await create_once(cluster, claims_path(namespace), manifest, manager=RESTORE_MANAGER)
    except DeployError as error:
        raise BackupFailed(
            f"the volume {claim} was deleted but could not be made again from the snapshot "
            f"{name}: {error}"
        ) from error


def _larger(one: str, other: str) -> str:
    """The larger of two quantities (`one` when either cannot be read)."""
    a, b = parse_quantity(one), parse_quantity(other)
    return other if a is not None and b is not None and b > a else one
