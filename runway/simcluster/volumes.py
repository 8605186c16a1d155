"""The contents of simulated volumes: files in memory, per bound volume and per snapshot.

A bound claim's volume is named after its PersistentVolume (`pvc-<claim uid>`); a snapshot's
contents are kept under its VolumeSnapshotContent's name. Nothing is written to disk. Files keep
their owner and mode, so a copy that preserves owners can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from runway.simcluster.bodies import Decoded
from runway.simcluster.objects import Objects, WriteOptions

Files = dict[str, "File"]

PROVISIONER = "runway-sim.io/hostpath"
"""The simulated CSI driver: the default StorageClass's provisioner, the snapshot class's driver."""
DEFAULT_STORAGE_CLASS = "standard"
DEFAULT_SNAPSHOT_CLASS = "standard-snapshot"


@dataclass(frozen=True)
class File:
    """One file of a simulated volume."""

    data: bytes
    uid: int = 0
    gid: int = 0
    mode: int = 0o644


class VolumeError(ValueError):
    """A path that cannot name a file in a volume (empty, `..`, absolute outside the volume)."""


def clean_path(path: str) -> str:
    """A file's path inside its volume, without leading `/`; refuses `.` and `..` segments."""
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise VolumeError(f"not a file path inside a volume: {path!r}")
    return "/".join(parts)


class VolumeContents:
    """Every simulated volume's and snapshot's files."""

    def __init__(self) -> None:
        self._volumes: dict[str, Files] = {}
        self._snapshots: dict[str, Files] = {}

    # -- volumes -------------------------------------------------------------------------------

    def create(self, volume: str, files: Files | None = None) -> None:
        """A new volume, empty or holding a copy of `files` (a snapshot's, a cloned claim's)."""
        self._volumes[volume] = dict(files or {})

    def exists(self, volume: str) -> bool:
        return volume in self._volumes

    def files(self, volume: str) -> Files:
        """A copy of a volume's files by path (empty for a volume never written)."""
        return dict(self._volumes.get(volume, {}))

    def read(self, volume: str, path: str) -> File | None:
        return self._volumes.get(volume, {}).get(clean_path(path))

    def write(self, volume: str, path: str, file: File) -> None:
        self._volumes.setdefault(volume, {})[clean_path(path)] = file

    def remove_file(self, volume: str, path: str) -> bool:
        return self._volumes.get(volume, {}).pop(clean_path(path), None) is not None

    def replace_all(self, volume: str, files: Files) -> None:
        """Make a volume hold exactly `files` (what a copy with deletion leaves)."""
        self._volumes[volume] = {path: replace(file) for path, file in files.items()}

    def drop(self, volume: str) -> None:
        """The volume is deleted (its PersistentVolume was reclaimed)."""
        self._volumes.pop(volume, None)

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot(self, content: str, volume: str) -> int:
        """Keep a copy of a volume's files as a snapshot's contents; returns their total size."""
        files = self.files(volume)
        self._snapshots[content] = files
        return sum(len(f.data) for f in files.values())

    def snapshot_files(self, content: str) -> Files | None:
        files = self._snapshots.get(content)
        return None if files is None else dict(files)

    def drop_snapshot(self, content: str) -> None:
        self._snapshots.pop(content, None)


def bootstrap_storage(objects: Objects) -> None:
    """What a fresh simulated cluster has for storage: a default StorageClass `standard`
    (`WaitForFirstConsumer`, expandable) and a default VolumeSnapshotClass for its driver."""
    system = WriteOptions(manager="kube-apiserver")
    classes = objects.catalogue.by_key("storage.k8s.io/storageclasses")
    storage_class = {
        "metadata": {
            "name": DEFAULT_STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    objects.create(classes, "", Decoded(storage_class), system)
    snapshot_classes = objects.catalogue.by_key("snapshot.storage.k8s.io/volumesnapshotclasses")
    snapshot_class = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {
            "name": DEFAULT_SNAPSHOT_CLASS,
            "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"},
        },
        "driver": PROVISIONER,
        "deletionPolicy": "Delete",
    }
    objects.create(snapshot_classes, "", Decoded(snapshot_class), system)
