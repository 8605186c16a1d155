"""runway's copy Jobs, carried out by the simulator as file copies (see `volumes.py`): the part
of the volume controller that handles them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runway.simcluster.bodies import Decoded
from runway.simcluster.catalogue import ResourceType
from runway.simcluster.clone import clone
from runway.simcluster.controllers import Controller
from runway.simcluster.controllers.events import record
from runway.simcluster.controllers.jobs import finished
from runway.simcluster.errors import Object
from runway.simcluster.objects import WriteOptions
from runway.simcluster.store import Store

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

COPY_FROM = "runway.dev/copy-from"
COPY_TO = "runway.dev/copy-to"
CLAIMS = "/persistentvolumeclaims"
JOBS = "batch/jobs"
WRITER = WriteOptions(manager="runway-sim")
"""How the simulator itself writes, where no real controller would."""


class CopyJobs(Controller):
    """Copy Jobs: once both claims are bound, the target holds the source's files and the Job is
    Complete. The volume controller (the subclass) binds claims."""

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__(cluster)
        self._copying: set[tuple[str, str]] = set()

    @property
    def store(self) -> Store:
        return self.cluster.store

    def rt(self, key: str) -> ResourceType:
        return self.cluster.catalogue.by_key(key)

    def _claim(self, namespace: str, name: str) -> None:
        """Bind the claim if it can be (the volume controller's part)."""
        raise NotImplementedError

    def _copy_job(self, namespace: str, name: str) -> None:
        job = self.store.get(JOBS, namespace, name)
        if job is None or finished(job) or job["metadata"].get("deletionTimestamp"):
            return
        if (namespace, name) in self._copying:
            return
        annotations = job["metadata"].get("annotations") or {}
        source, target = annotations.get(COPY_FROM), annotations.get(COPY_TO)
        if not source or not target:
            self._event(
                job,
                "SimulatedCopyPending",
                f"runway-sim (simulated): a copy Job needs the annotations {COPY_FROM} and "
                f"{COPY_TO}",
                "Warning",
            )
            return
        volumes = [self._bound_volume(namespace, claim) for claim in (source, target)]
        if None in volumes:
            for claim in (source, target):
                self._claim(namespace, claim)
            volumes = [self._bound_volume(namespace, claim) for claim in (source, target)]
            if None in volumes:
                waiting = [c for c, v in zip((source, target), volumes, strict=True) if v is None]
                self._event(
                    job,
                    "SimulatedCopyPending",
                    "runway-sim (simulated): the copy waits for PersistentVolumeClaim "
                    f"{' and '.join(waiting)} to exist and be bound",
                )
                return
        self._copying.add((namespace, name))
        delay = self.cluster.behaviour.ready_delay
        self.later(delay, lambda: self._finish_copy(namespace, name, str(job["metadata"]["uid"])))

    def _bound_volume(self, namespace: str, claim_name: str) -> str | None:
        claim = self.store.get(CLAIMS, namespace, claim_name)
        if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
            return None
        volume = (claim.get("spec") or {}).get("volumeName")
        return str(volume) if volume else None

    def _finish_copy(self, namespace: str, name: str, uid: str) -> None:
        self._copying.discard((namespace, name))
        job = self.store.get(JOBS, namespace, name)
        if job is None or job["metadata"]["uid"] != uid or finished(job):
            return
        annotations = job["metadata"].get("annotations") or {}
        source, target = annotations[COPY_FROM], annotations[COPY_TO]
        source_volume = self._bound_volume(namespace, source)
        target_volume = self._bound_volume(namespace, target)
        if source_volume is None or target_volume is None:
            self._copy_job(namespace, name)
            return
        files = self.cluster.volumes.files(source_volume)
        self.cluster.volumes.replace_all(target_volume, files)
        now = self.cluster.objects.now()
        done = clone(job)
        message = "Reached expected number of succeeded pods"
        done["status"] = {
            "conditions": [
                {
                    "type": condition,
                    "status": "True",
                    "reason": "CompletionsReached",
                    "message": message,
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                }
                for condition in ("SuccessCriteriaMet", "Complete")
            ],
            "startTime": (job.get("status") or {}).get("startTime") or now,
            "completionTime": now,
            "succeeded": 1,
            "terminating": 0,
            "ready": 0,
            "uncountedTerminatedPods": {},
        }
        self.cluster.objects.replace(
            self.rt(JOBS), namespace, name, Decoded(done), "status", WRITER
        )
        self._event(
            job,
            "SimulatedCopy",
            f"runway-sim (simulated): copied the volume of PersistentVolumeClaim {source} to "
            f"PersistentVolumeClaim {target} ({len(files)} files, owners preserved) instead of "
            "running the Job's pods",
        )

    def _event(self, involved: Object, reason: str, message: str, kind: str = "Normal") -> None:
        """An Event on an object; repeats of a reason are counted on the first one."""
        record(self.cluster, involved, kind, reason, message, "runway-sim", key=reason)
