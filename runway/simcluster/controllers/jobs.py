"""The Job controller: pods run to completion; `Complete`, or `Failed` past `backoffLimit`.

Jobs labelled `runway.dev/copy` are runway's volume copies: the volume copy controller carries
those out, so this one leaves them alone.
"""

from __future__ import annotations

import time
from typing import Any

from runway.simcluster.clone import clone
from runway.simcluster.controllers import CONTROLLERS
from runway.simcluster.controllers.events import record, similar
from runway.simcluster.controllers.workloads import (
    BATCH_CAP,
    NEXT_PASS,
    PASS_BUDGET,
    PODS,
    Workload,
    compact,
    is_active,
    is_ready,
    pods_of,
)
from runway.simcluster.errors import ApiError, Object

JOBS = "batch/jobs"
COPY_LABEL = "runway.dev/copy"


def _condition(kind: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def finished(job: Object) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or ()
    )


class JobController(Workload):
    resource = JOBS
    owner_kind = "Job"
    watches = (JOBS, PODS)

    def handles(self, obj: Object) -> bool:
        # Copy Jobs are carried out by the volume controller, not run as pods.
        return COPY_LABEL not in (obj["metadata"].get("labels") or {})

    def sync(self, job: Object) -> None:
        meta, spec = job["metadata"], job.get("spec") or {}
        if COPY_LABEL in (meta.get("labels") or {}) or finished(job):
            return
        namespace = meta.get("namespace", "")
        previous = job.get("status") or {}
        status: dict[str, Any] = clone(previous)
        now = self.cluster.objects.now()
        if spec.get("suspend"):
            return
        status.setdefault("startTime", now)
        pods = pods_of(self.cluster, namespace, meta["uid"])
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        failed += sum(
            int(s.get("restartCount", 0) or 0)
            for p in pods
            for s in (p.get("status") or {}).get("containerStatuses") or ()
        )
        active = [p for p in pods if is_active(p)]
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) or 0)
        backoff = int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6)
        conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
        pods_rt = self.cluster.catalogue.by_key(PODS)
        if failed > backoff:
            for pod in active:
                self.delete(pods_rt, pod)
            active = []
            message = "Job has reached the specified backoff limit"
            record(self.cluster, job, "Warning", "BackoffLimitExceeded", message)
            conditions += [
                _condition("FailureTarget", "BackoffLimitExceeded", message, now),
                _condition("Failed", "BackoffLimitExceeded", message, now),
            ]
        elif (completions is not None and succeeded >= int(completions)) or (
            completions is None and succeeded > 0 and not active
        ):
            message = "Reached expected number of succeeded pods"
            conditions += [
                _condition("SuccessCriteriaMet", "CompletionsReached", message, now),
                _condition("Complete", "CompletionsReached", message, now),
            ]
            status["completionTime"] = now
        else:
            remaining = (int(completions) - succeeded) if completions is not None else 1
            wanted = max(min(parallelism, remaining) - len(active), 0)
            if wanted and not self.waiting(meta["uid"]):
                self._create_pods(job, wanted, active)
        status.update(
            conditions=conditions,
            active=len(active),
            ready=sum(1 for p in active if is_ready(p)),
            succeeded=succeeded,
            failed=failed,
            terminating=0,
        )
        status.setdefault("uncountedTerminatedPods", {})
        written = compact(status, "ready", "terminating", "uncountedTerminatedPods")
        self.write_status(job, written)

    def _create_pods(self, job: Object, wanted: int, active: list[Object]) -> None:
        """Create up to `wanted` pods, at most BATCH_CAP in this pass (in slow-start batches);
        a refusal is a warning event on the Job and a retry after a back-off."""
        meta, spec = job["metadata"], job.get("spec") or {}
        namespace, name = meta.get("namespace", ""), meta["name"]
        todo = min(wanted, BATCH_CAP)
        batch = 1
        began = time.monotonic()
        while todo > 0 and time.monotonic() - began < PASS_BUDGET:
            for _ in range(min(batch, todo)):
                try:
                    active.append(
                        self.create_pod(
                            job,
                            "batch/v1",
                            spec.get("template"),
                            {"metadata": {"generateName": f"{name}-"}},
                        )
                    )
                except ApiError as error:
                    message = f"Error creating: {error.message}"
                    record(
                        self.cluster, job, "Warning", "FailedCreate", message, key=similar(message)
                    )
                    self.refused(namespace, name, meta["uid"])
                    return
                todo -= 1
            batch *= 2
        self.accepted(meta["uid"])
        if todo > 0 or wanted > BATCH_CAP:  # the rest next pass: the API server answers meanwhile
            self.mark(namespace, name, NEXT_PASS)


CONTROLLERS.append(JobController)
