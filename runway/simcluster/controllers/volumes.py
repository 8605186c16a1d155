"""Volumes: what the PV controller, a CSI provisioner, the snapshot controller and the
pvc-protection controller would do, and runway's copy Jobs carried out as file copies.

- A claim binds when its StorageClass is `Immediate`, or (`WaitForFirstConsumer`) once a pod that
  mounts it appears: a PersistentVolume `pvc-<claim uid>` is made, the claim gets `volumeName`,
  `status.phase: Bound` and `status.capacity`. Every provisioner is simulated (the volume's CSI
  driver is its class's provisioner); a class that does not exist leaves the claim Pending.
- Claims carry `kubernetes.io/pvc-protection` (added by admission); a deleted claim stays
  Terminating while a pod that is not finished mounts it. A deleted claim's volume goes with it
  (reclaim policy `Delete`).
- Growing a bound claim of an expandable class resizes it at once.
- A VolumeSnapshot of a bound claim, with a VolumeSnapshotClass whose `driver` is the volume's,
  gets a VolumeSnapshotContent and becomes `readyToUse` with its `restoreSize`; its contents are
  a copy of the volume's files. A claim whose `dataSource` (or `dataSourceRef`) is a ready
  VolumeSnapshot, or a bound claim, starts with a copy of those files.
- **Copy Jobs.** A Job labelled `runway.dev/copy: "true"` with the annotations
  `runway.dev/copy-from: <claim>` and `runway.dev/copy-to: <claim>` (both in the Job's namespace)
  is not run: once both claims are bound (the Job counts as their first consumer), the simulator
  makes the target volume hold exactly the source volume's files (owners and modes preserved),
  marks the Job `Complete` and records a `SimulatedCopy` Event on it saying so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runway.simcluster.admission import PVC_PROTECTION
from runway.simcluster.bodies import Decoded
from runway.simcluster.clone import clone
from runway.simcluster.controllers import CONTROLLERS, log
from runway.simcluster.controllers.copies import COPY_FROM, COPY_TO, JOBS, WRITER, CopyJobs
from runway.simcluster.controllers.jobs import COPY_LABEL, finished
from runway.simcluster.errors import Object
from runway.simcluster.quantity import value_of
from runway.simcluster.shape import ordered
from runway.simcluster.store import Change
from runway.simcluster.volumes import PROVISIONER

if TYPE_CHECKING:
    pass

NODE = "runway-sim-node"

CLAIMS = "/persistentvolumeclaims"
VOLUMES = "/persistentvolumes"
PODS = "/pods"
CLASSES = "storage.k8s.io/storageclasses"
SNAPSHOTS = "snapshot.storage.k8s.io/volumesnapshots"
SNAPSHOT_CLASSES = "snapshot.storage.k8s.io/volumesnapshotclasses"
CONTENTS = "snapshot.storage.k8s.io/volumesnapshotcontents"
_DEFAULT_SNAPSHOT_CLASS = "snapshot.storage.kubernetes.io/is-default-class"


def is_copy_job(job: Object) -> bool:
    """A runway copy Job, which the simulator carries out itself instead of running pods (the
    Job controller leaves every Job with the label alone; runway sets it to `"true"`)."""
    return COPY_LABEL in (job["metadata"].get("labels") or {})


def _claims_of(pod: Object | None) -> Iterator[str]:
    for volume in ((pod or {}).get("spec") or {}).get("volumes") or []:
        claim = (volume or {}).get("persistentVolumeClaim") or {}
        if claim.get("claimName"):
            yield str(claim["claimName"])


def _running(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class VolumeController(CopyJobs):
    """Binds claims, protects and reclaims them, takes snapshots, restores and copies."""

    watches = (CLAIMS, VOLUMES, PODS, SNAPSHOTS, JOBS, CLASSES, SNAPSHOT_CLASSES)

    # -- dispatch ------------------------------------------------------------------------------

    def changed(self, change: Change) -> None:
        meta = change.obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        if change.resource == CLAIMS:
            if change.type == "DELETED":
                self._reclaim(change.obj)
            else:
                self._claim(namespace, name)
            self._namespace_waiting(namespace)
        elif change.resource == PODS:
            for claim in {*_claims_of(change.obj), *_claims_of(change.prev)}:
                self._claim(namespace, claim)
        elif change.resource == SNAPSHOTS:
            if change.type == "DELETED":
                self._snapshot_deleted(change.obj)
            else:
                self._snapshot(namespace, name)
                self._namespace_waiting(namespace)
        elif change.resource == JOBS:
            if change.type != "DELETED" and is_copy_job(change.obj):
                self._copy_job(namespace, name)
        elif change.resource == VOLUMES and change.type == "DELETED":
            self.cluster.volumes.drop(name)
        elif change.resource in (CLASSES, SNAPSHOT_CLASSES) and change.type != "DELETED":
            # A class that appears may be what a claim or a snapshot waits for.
            for waiting in {key[0] for key in self.store.keys(CLAIMS) + self.store.keys(SNAPSHOTS)}:
                self._namespace_waiting(waiting)

    def _namespace_waiting(self, namespace: str) -> None:
        """Whatever waits on claims or snapshots in a namespace gets another look."""
        for claim in self.store.items(CLAIMS, namespace):
            if (claim.get("status") or {}).get("phase") != "Bound":
                self._claim(namespace, claim["metadata"]["name"])
        for snapshot in self.store.items(SNAPSHOTS, namespace):
            if not (snapshot.get("status") or {}).get("readyToUse"):
                self._snapshot(namespace, snapshot["metadata"]["name"])
        for job in self.store.items(JOBS, namespace):
            if is_copy_job(job):
                self._copy_job(namespace, job["metadata"]["name"])

    # -- claims --------------------------------------------------------------------------------

    def _claim(self, namespace: str, name: str) -> None:
        claim = self.store.get(CLAIMS, namespace, name)
        if claim is None:
            return
        if claim["metadata"].get("deletionTimestamp"):
            self._unprotect(claim)
            return
        spec = claim.get("spec") or {}
        if (claim.get("status") or {}).get("phase") == "Bound":
            self._resize(claim)
            return
        class_name = spec.get("storageClassName")
        storage_class = self.store.get(CLASSES, "", class_name) if class_name else None
        if storage_class is None:
            if class_name:
                self._event(
                    claim,
                    "ProvisioningFailed",
                    f'storageclass.storage.k8s.io "{class_name}" not found',
                    "Warning",
                )
            return
        waits = storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"
        if waits and not self._consumed(namespace, name):
            self._event(
                claim,
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
            )
            return
        files = self._source_files(claim)
        if files is None:
            return
        self._bind(claim, storage_class, files, selected_node=waits)

    def _consumed(self, namespace: str, name: str) -> bool:
        if any(
            name in _claims_of(pod) and _running(pod) for pod in self.store.items(PODS, namespace)
        ):
            return True
        return any(
            is_copy_job(job)
            and not finished(job)
            and name
            in (
                (job["metadata"].get("annotations") or {}).get(COPY_FROM),
                (job["metadata"].get("annotations") or {}).get(COPY_TO),
            )
            for job in self.store.items(JOBS, namespace)
        )

    def _source_files(self, claim: Object) -> dict[str, Any] | None:
        """The files a new volume starts with ({} when empty); None while its source is not
        ready."""
        spec = claim.get("spec") or {}
        source = spec.get("dataSourceRef") or spec.get("dataSource")
        if not source:
            return {}
        namespace = claim["metadata"].get("namespace", "")
        kind, name = source.get("kind"), source.get("name", "")
        if kind == "VolumeSnapshot":
            snapshot = self.store.get(SNAPSHOTS, namespace, name)
            status = (snapshot or {}).get("status") or {}
            if not status.get("readyToUse"):
                return None
            files = self.cluster.volumes.snapshot_files(status["boundVolumeSnapshotContentName"])
            return files
        if kind == "PersistentVolumeClaim":
            source_claim = self.store.get(CLAIMS, namespace, name)
            volume = ((source_claim or {}).get("spec") or {}).get("volumeName")
            if not volume:
                return None
            return self.cluster.volumes.files(volume)
        return {}

    def _bind(
        self, claim: Object, storage_class: Object, files: dict[str, Any], *, selected_node: bool
    ) -> None:
        meta, spec = claim["metadata"], claim.get("spec") or {}
        namespace, name = meta.get("namespace", ""), meta["name"]
        volume_name = f"pvc-{meta['uid']}"
        provisioner = str(storage_class.get("provisioner") or PROVISIONER)
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        access_modes = spec.get("accessModes") or ["ReadWriteOnce"]
        volume: Object = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": volume_name,
                "annotations": {"pv.kubernetes.io/provisioned-by": provisioner},
            },
            "spec": {
                "accessModes": access_modes,
                "capacity": {"storage": storage},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "name": name,
                    "namespace": namespace,
                    "uid": meta["uid"],
                    "resourceVersion": meta["resourceVersion"],
                },
                "csi": {"driver": provisioner, "volumeHandle": volume_name, "fsType": "ext4"},
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
                "storageClassName": storage_class["metadata"]["name"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
            },
        }
        pv_rt = self.rt(VOLUMES)
        if self.store.get(VOLUMES, "", volume_name) is None:
            created = self.cluster.objects.create(pv_rt, "", Decoded(volume), WRITER).obj
            bound = clone(created)
            bound["status"] = {"phase": "Bound"}
            self.cluster.objects.replace(pv_rt, "", volume_name, Decoded(bound), "status", WRITER)
        self.cluster.volumes.create(volume_name, files)
        new = clone(claim)
        annotations = new["metadata"].setdefault("annotations", {})
        annotations.update(
            {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.beta.kubernetes.io/storage-provisioner": provisioner,
                "volume.kubernetes.io/storage-provisioner": provisioner,
            }
        )
        if selected_node:
            annotations["volume.kubernetes.io/selected-node"] = NODE
        new["spec"]["volumeName"] = volume_name
        new["status"] = {
            "phase": "Bound",
            "accessModes": access_modes,
            "capacity": {"storage": storage},
        }
        self.store.put(CLAIMS, ordered(new))
        self._event(
            claim,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume_name}",
        )

    def _resize(self, claim: Object) -> None:
        spec, status = claim.get("spec") or {}, claim.get("status") or {}
        wanted = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        capacity = (status.get("capacity") or {}).get("storage")
        if wanted is None or capacity is None or value_of(wanted) <= value_of(capacity):
            return
        volume = self.store.get(VOLUMES, "", spec.get("volumeName") or "")
        if volume is not None:
            grown = clone(volume)
            grown["spec"]["capacity"] = {"storage": wanted}
            self.store.put(VOLUMES, ordered(grown))
        new = clone(claim)
        new["status"]["capacity"] = {**(status.get("capacity") or {}), "storage": wanted}
        self.store.put(CLAIMS, ordered(new))

    def _unprotect(self, claim: Object) -> None:
        """pvc-protection: a deleted claim goes once no unfinished pod mounts it."""
        meta = claim["metadata"]
        if PVC_PROTECTION not in (meta.get("finalizers") or []):
            return
        namespace, name = meta.get("namespace", ""), meta["name"]
        if any(
            name in _claims_of(pod) and _running(pod) for pod in self.store.items(PODS, namespace)
        ):
            return
        new = clone(claim)
        new["metadata"]["finalizers"] = [
            f for f in meta.get("finalizers") or [] if f != PVC_PROTECTION
        ]
        self.cluster.objects.replace(self.rt(CLAIMS), namespace, name, Decoded(new), None, WRITER)

    def _reclaim(self, claim: Object) -> None:
        """A deleted claim's volume is deleted with it (reclaim policy `Delete`) or released."""
        volume_name = (claim.get("spec") or {}).get("volumeName")
        volume = self.store.get(VOLUMES, "", volume_name) if volume_name else None
        if volume is None:
            return
        if (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete":
            self.cluster.objects.remove(self.rt(VOLUMES), volume)
            return
        released = clone(volume)
        released["status"] = {"phase": "Released"}
        self.store.put(VOLUMES, ordered(released))

    # -- snapshots -----------------------------------------------------------------------------

    def _snapshot(self, namespace: str, name: str) -> None:
        snapshot = self.store.get(SNAPSHOTS, namespace, name)
        if snapshot is None or snapshot["metadata"].get("deletionTimestamp"):
            return
        if (snapshot.get("status") or {}).get("readyToUse"):
            return
        spec = snapshot.get("spec") or {}
        claim_name = (spec.get("source") or {}).get("persistentVolumeClaimName")
        claim = self.store.get(CLAIMS, namespace, claim_name) if claim_name else None
        volume_name = ((claim or {}).get("spec") or {}).get("volumeName")
        volume = self.store.get(VOLUMES, "", volume_name) if volume_name else None
        if claim is None or volume is None:
            return
        class_name = spec.get("volumeSnapshotClassName") or self._default_snapshot_class()
        snapshot_class = self.store.get(SNAPSHOT_CLASSES, "", class_name or "")
        driver = ((volume.get("spec") or {}).get("csi") or {}).get("driver")
        if snapshot_class is None or snapshot_class.get("driver") != driver:
            self._event(
                snapshot,
                "SnapshotPending",
                f"no VolumeSnapshotClass for the driver {driver} of volume {volume_name}",
                "Warning",
            )
            return
        meta = snapshot["metadata"]
        content_name = f"snapcontent-{meta['uid']}"
        size = self.cluster.volumes.snapshot(content_name, str(volume_name))
        restore_size = str(((claim.get("status") or {}).get("capacity") or {}).get("storage", "0"))
        log.info(
            "runway-sim (simulated): snapshot %s/%s of %s holds %d bytes",
            namespace,
            name,
            claim_name,
            size,
        )
        content: Object = {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name},
            "spec": {
                "deletionPolicy": snapshot_class.get("deletionPolicy") or "Delete",
                "driver": driver,
                "source": {"volumeHandle": volume_name},
                "sourceVolumeMode": "Filesystem",
                "volumeSnapshotClassName": class_name,
                "volumeSnapshotRef": {
                    "apiVersion": "snapshot.storage.k8s.io/v1",
                    "kind": "VolumeSnapshot",
                    "name": name,
                    "namespace": namespace,
                    "uid": meta["uid"],
                    "resourceVersion": meta["resourceVersion"],
                },
            },
        }
        content_rt = self.rt(CONTENTS)
        if self.store.get(CONTENTS, "", content_name) is None:
            created = self.cluster.objects.create(content_rt, "", Decoded(content), WRITER).obj
            ready = clone(created)
            ready["status"] = {
                "creationTime": time.time_ns(),
                "readyToUse": True,
                "restoreSize": int(value_of(restore_size)),
                "snapshotHandle": content_name,
            }
            self.cluster.objects.replace(
                content_rt, "", content_name, Decoded(ready), "status", WRITER
            )
        new = clone(snapshot)
        new.setdefault("spec", {})["volumeSnapshotClassName"] = class_name
        new["status"] = {
            "boundVolumeSnapshotContentName": content_name,
            "creationTime": self.cluster.objects.now(),
            "readyToUse": True,
            "restoreSize": restore_size,
        }
        self.store.put(SNAPSHOTS, ordered(new))

    def _default_snapshot_class(self) -> str | None:
        for snapshot_class in self.store.items(SNAPSHOT_CLASSES):
            annotations = snapshot_class["metadata"].get("annotations") or {}
            if annotations.get(_DEFAULT_SNAPSHOT_CLASS) == "true":
                return str(snapshot_class["metadata"]["name"])
        return None

    def _snapshot_deleted(self, snapshot: Object) -> None:
        content_name = (snapshot.get("status") or {}).get("boundVolumeSnapshotContentName")
        content = self.store.get(CONTENTS, "", content_name) if content_name else None
        if content is None:
            return
        if (content.get("spec") or {}).get("deletionPolicy") == "Delete":
            self.cluster.objects.remove(self.rt(CONTENTS), content)
            self.cluster.volumes.drop_snapshot(str(content_name))


CONTROLLERS.append(VolumeController)
