"""Waiting for one applied workload to be ready, by DESIGN.md's rules (Kubernetes: Readiness).

A Deployment is ready when kubectl's rollout-status rules hold (the controller has seen the
latest generation; every wanted replica is updated, there are no old ones, and every updated
one is available) and no `ReplicaFailure` condition (quota) is set; `ProgressDeadlineExceeded`
fails it. A Job is done at its `Complete` condition and failed at `Failed`. PVCs, Services,
Ingresses and Secrets are not waited for.

The pods of the newest ReplicaSet (or of the Job) fail the step at once, in plain words naming
the pod and container, on: `ErrImagePull` that persists, `ImagePullBackOff`, `InvalidImageName`,
`CrashLoopBackOff` (Deployments only: a Job's own `backoffLimit` decides its retries),
`CreateContainerConfigError` and an unschedulable pod. "Persists" is time: `verdict` fails on
the `ErrImagePull` of the containers it is given as `pull_errors`, and `wait_ready` gives it
those seen in `ErrImagePull` without a break for `PULL_GRACE` seconds (PullErrors).

This module is the pure part: `verdict` decides from what was read and touches no cluster,
and `PullErrors` keeps time for it. The wait itself, against the cluster, is
runway.deploy.waiting's `wait_ready`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from runway.deploy.errors import PermanentError

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
JOB_NAME_LABEL = "job-name"
WAITED_FOR = ("Deployment", "Job")


@dataclass(frozen=True, slots=True)
class Ready:
    """The workload is ready (a Deployment) or done (a Job); `reason` says which."""

    reason: str = "ready"


@dataclass(frozen=True, slots=True)
class Waiting:
    """Not yet: `reason` is the state seen, in plain words. `pull_errors` are the containers
    (`pod/container`) seen in `ErrImagePull` on this look: `verdict` fails on those still so
    when given them back as its `pull_errors` (wait_ready does once they persist)."""

    reason: str
    pull_errors: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Failed:
    """It will not become ready; `reason` says why, naming the pod and container."""

    reason: str


Verdict = Ready | Waiting | Failed


class StepFailed(PermanentError):
    """A workload failed to become ready (or did not in its time); the message says why."""


# -- the pure part ---------------------------------------------------------------------------


def verdict(
    workload: dict[str, Any],
    pods: Sequence[dict[str, Any]],
    replicasets: Sequence[dict[str, Any]] = (),
    *,
    pull_errors: frozenset[str] = frozenset(),
) -> Verdict:
    """Whether `workload` (a Deployment or Job as read from the cluster) is ready, still on
    its way, or failed, given the pods its selector matches and, for a Deployment, its
    ReplicaSets. `pull_errors` are the previous look's `Waiting.pull_errors`."""
    kind = str(workload.get("kind") or "")
    if kind == "Deployment":
        return _deployment(workload, pods, replicasets, pull_errors)
    if kind == "Job":
        return _job(workload, pods, pull_errors)
    return Ready(f"a {kind or 'object'} is not waited for")


def _deployment(
    workload: dict[str, Any],
    pods: Sequence[dict[str, Any]],
    replicasets: Sequence[dict[str, Any]],
    pull_errors: frozenset[str],
) -> Verdict:
    name = _name(workload)
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    generation = int((workload.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if observed < generation:
        # What the status and the pods say is about the rollout before: judged, a crash loop
        # or a deadline the new version is about to fix would fail it.
        return Waiting(
            f"Deployment {name}: waiting for the controller to see generation {generation}"
        )
    for condition in _conditions(workload):
        kind, reason = condition.get("type"), condition.get("reason")
        message = str(condition.get("message") or "")
        if kind == "ReplicaFailure" and condition.get("status") == "True":
            return Failed(f"Deployment {name} cannot create its pods ({reason}): {message}")
        if kind == "Progressing" and reason == "ProgressDeadlineExceeded":
            return Failed(f"Deployment {name} made no progress in its deadline: {message}")
    newest = newest_replicaset(workload, replicasets)
    if newest is not None and _revision(newest) < _revision(workload):
        newest = None  # the controller's newest ReplicaSet is not in what was read yet
    current = pods_of_replicaset(newest, pods) if newest is not None else []
    found = _pod_problems(current, pull_errors, crash_loops=True)
    if isinstance(found, Failed):
        return found
    wanted = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        state = f"Deployment {name}: {updated} of {wanted} replicas updated"
    elif replicas > updated:
        state = f"Deployment {name}: {replicas - updated} old replicas still to go"
    elif available < updated:
        state = f"Deployment {name}: {available} of {updated} updated replicas available"
    else:
        return Ready(f"Deployment {name}: {available} of {wanted} replicas available")
    return Waiting(_with_pods(state, found.reason), found.pull_errors)


def _job(
    workload: dict[str, Any], pods: Sequence[dict[str, Any]], pull_errors: frozenset[str]
) -> Verdict:
    name = _name(workload)
    for condition in _conditions(workload):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return Ready(f"Job {name} completed")
        if condition.get("type") == "Failed":
            reason = condition.get("reason") or "Failed"
            message = condition.get("message") or ""
            said = f"Job {name} failed ({reason}): {message}".rstrip(": ")
            last = _last_exit(pods)
            return Failed(f"{said}; {last}" if last else said)
    found = _pod_problems(pods, pull_errors, crash_loops=False)
    if isinstance(found, Failed):
        return found
    active = int((workload.get("status") or {}).get("active") or 0)
    return Waiting(
        _with_pods(f"Job {name}: {active} pod(s) running", found.reason), found.pull_errors
    )


def newest_replicaset(
    deployment: dict[str, Any], replicasets: Iterable[dict[str, Any]]
) -> dict[str, Any] | None:
    """The Deployment's ReplicaSet with the highest `deployment.kubernetes.io/revision`
    (owned by it: by uid, or by name where the uid is unknown), or None."""
    meta = deployment.get("metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    best: tuple[int, dict[str, Any]] | None = None
    for rs in replicasets:
        owners = (rs.get("metadata") or {}).get("ownerReferences") or ()
        if not any(
            o.get("kind") == "Deployment"
            and (o.get("uid") == uid if uid else o.get("name") == name)
            for o in owners
        ):
            continue
        revision = _revision(rs)
        if best is None or revision > best[0]:
            best = (revision, rs)
    return best[1] if best is not None else None


def _revision(obj: dict[str, Any]) -> int:
    """The `deployment.kubernetes.io/revision` of a Deployment or ReplicaSet (0: none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get(REVISION) or 0)
    except ValueError:
        return 0


def pods_of_replicaset(
    replicaset: dict[str, Any], pods: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The pods carrying the ReplicaSet's `pod-template-hash`."""
    labels = (replicaset.get("metadata") or {}).get("labels") or {}
    digest = labels.get(HASH_LABEL)
    if digest is None:
        match = ((replicaset.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        digest = match.get(HASH_LABEL)
    return [
        p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL) == digest
    ]


def _pod_problems(
    pods: Iterable[dict[str, Any]], pull_errors: frozenset[str], *, crash_loops: bool
) -> Failed | Waiting:
    """The first pod state that fails the step, or a Waiting describing the pods (with the
    containers now in `ErrImagePull`)."""
    pulling: set[str] = set()
    states: list[str] = []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        if meta.get("deletionTimestamp"):
            continue
        pod_name = str(meta.get("name") or "?")
        for condition in status.get("conditions") or ():
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                return Failed(
                    f"pod {pod_name} cannot be scheduled (Unschedulable): "
                    f"{condition.get('message') or 'no node fits it'}"
                )
        for entry in [
            *(status.get("initContainerStatuses") or ()),
            *(status.get("containerStatuses") or ()),
        ]:
            container = str(entry.get("name") or "?")
            where = f"pod {pod_name} container {container}"
            waiting = (entry.get("state") or {}).get("waiting") or {}
            reason = str(waiting.get("reason") or "")
            message = str(waiting.get("message") or "")
            image = entry.get("image") or "its image"
            if reason == "ErrImagePull":
                key = f"{pod_name}/{container}"
                if key in pull_errors:
                    return Failed(f"{where}: {image} cannot be pulled (ErrImagePull): {message}")
                pulling.add(key)
            elif reason in ("ImagePullBackOff", "InvalidImageName"):
                return Failed(f"{where}: {image} cannot be pulled ({reason}): {message}")
            elif reason == "CreateContainerConfigError":
                return Failed(f"{where} cannot be created (CreateContainerConfigError): {message}")
            elif reason == "CrashLoopBackOff" and crash_loops:
                return Failed(f"{where} keeps crashing (CrashLoopBackOff): {_crashes(entry)}")
            if reason:
                states.append(f"{where}: {reason}")
    return Waiting("; ".join(states), frozenset(pulling))


def _crashes(entry: dict[str, Any]) -> str:
    restarts = int(entry.get("restartCount") or 0)
    said = f"restarted {restarts} time{'s' if restarts != 1 else ''}"
    last = (entry.get("lastState") or {}).get("terminated") or {}
    if last:
        said += (
            f", last exit: {last.get('reason') or 'terminated'} (exit code {last.get('exitCode')})"
        )
    return said


def _last_exit(pods: Iterable[dict[str, Any]]) -> str:
    """The exit of a failed pod's container (`pod x container y exited with code 1 (Error)`)."""
    for pod in sorted(
        pods,
        key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""),
        reverse=True,
    ):
        for entry in (pod.get("status") or {}).get("containerStatuses") or ():
            state = entry.get("state") or {}
            ended = state.get("terminated") or (entry.get("lastState") or {}).get("terminated")
            if ended and ended.get("exitCode"):
                return (
                    f"pod {(pod.get('metadata') or {}).get('name')} container {entry.get('name')} "
                    f"exited with code {ended.get('exitCode')} ({ended.get('reason') or 'Error'})"
                )
    return ""


def _with_pods(state: str, pods: str) -> str:
    return f"{state} ({pods})" if pods else state


def _name(workload: dict[str, Any]) -> str:
    return str((workload.get("metadata") or {}).get("name") or "?")


def _conditions(workload: dict[str, Any]) -> list[dict[str, Any]]:
    found = (workload.get("status") or {}).get("conditions") or []
    return [c for c in found if isinstance(c, dict)]


# -- time --------------------------------------------------------------------------------------

TICK = 1.0
"""Seconds between two evaluations when no event comes (time alone can change the verdict)."""

PULL_GRACE = 3.0
"""Seconds a container must stay in `ErrImagePull` before that fails the step."""


class PullErrors:
    """Since when each container (`pod/container`) has been seen in `ErrImagePull`, to tell a
    pull error that persists from one the next retry cures.

    A container's `ErrImagePull` persists when the evaluations of at least `grace` seconds
    saw it, the first at t and one at t + `grace` or later, with every evaluation between
    seeing it too (one that does not forgets it). Times are the event loop's clock."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._since: dict[str, float] = {}

    def persisting(self, now: float) -> frozenset[str]:
        """The containers whose `ErrImagePull` has lasted `grace` seconds by `now`: what
        `verdict` fails on if it still sees them so (its `pull_errors`)."""
        return frozenset(key for key, since in self._since.items() if since + self.grace <= now)

    def saw(self, pulling: frozenset[str], now: float) -> None:
        """An evaluation at `now` saw exactly `pulling` in `ErrImagePull`."""
        self._since = {key: self._since.get(key, now) for key in pulling}

    def due(self, now: float) -> float | None:
        """When the next container will have persisted (None: none is on its way)."""
        pending = [since + self.grace for since in self._since.values() if since + self.grace > now]
        return min(pending, default=None)
