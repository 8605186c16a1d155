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

`verdict` decides from what was read and touches no cluster; `wait_ready` reads the workload,
its ReplicaSets and pods from the cluster's shared watches (runway.deploy.informers: one list
and one open watch per collection for every wait at once, not a GET per poll) and applies it on
every change and on a timer, temporary errors survived until the step's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from runway.deploy.connection import Cluster
from runway.deploy.errors import PermanentError, TemporaryError
from runway.deploy.informers import labelled, named

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


# -- the wait --------------------------------------------------------------------------------

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


async def wait_ready(
    cluster: Cluster,
    manifest: dict[str, Any],
    *,
    timeout: float,
    applied: dict[str, Any] | None = None,
    may_act: Callable[[], None] | None = None,
    tick: float = TICK,
    pull_grace: float = PULL_GRACE,
) -> Ready:
    """Wait until the workload `manifest` describes (already applied) is ready: a Deployment
    by the rollout-status rules, a Job by its `Complete` condition; anything else at once.
    `applied` is the object as the apply answered it (read here when not given): the wait
    judges that version of it or a later one, never an earlier one still in a watch's cache.
    `may_act` raises once the caller may no longer act on the cluster (run_step's): the
    shared watches then ask the cluster nothing more for this wait.

    It reads the cluster's shared watches (runway.deploy.informers) of the namespace's
    workloads of that kind, its ReplicaSets and its pods, picks the workload by name and the
    ReplicaSets and pods by a Deployment's selector (a Job's `job-name=NAME`), and applies
    `verdict` whenever one of them changes, and at least every `tick` seconds. `ErrImagePull`
    fails the step once it has persisted `pull_grace` seconds (see PullErrors).

    StepFailed (a PermanentError) when it fails, saying why in plain words, or when it is
    not ready after `timeout` seconds (with the last state seen); also when the workload does
    not exist. Temporary errors of the cluster are survived until then; other PermanentErrors
    of the cluster are raised as they are."""
    kind = str(manifest.get("kind") or "")
    if kind not in WAITED_FOR:
        return Ready(f"a {kind or 'object'} is not waited for")
    meta = manifest.get("metadata") or {}
    name, namespace = str(meta["name"]), str(meta["namespace"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    if applied is None:
        applied = await _existing(cluster, kind, name, namespace)
    version = _Version.of(applied)
    pulls = PullErrors(pull_grace)
    collections = _collections(kind, namespace)
    labels = _pod_labels(manifest, kind, name)
    changed = asyncio.Event()
    last = "nothing read yet"
    valid = _validity(may_act)
    async with contextlib.AsyncExitStack() as stack:
        informers = {
            which: await stack.enter_async_context(
                cluster.informers.read(
                    path,
                    changed,
                    named(name) if which == "workload" else labelled(labels),
                    valid,
                )
            )
            for which, path in collections.items()
        }
        checked = -tick  # when a workload missing from the cache was last looked up
        alarm = _Alarm(loop, changed)
        stack.callback(alarm.cancel)
        while True:
            changed.clear()
            now = loop.time()
            for informer in informers.values():
                if informer.failure is not None:
                    raise informer.failure
            if all(informer.objects is not None for informer in informers.values()):
                workload = informers["workload"].get(name)
                stale = workload is None or not version.seen_in(workload)
                if stale and now - checked >= tick and (valid is None or valid()):
                    # Not in the shared watch's cache yet, or older there: read it directly
                    # (at most once a tick), which also tells a deleted or replaced workload.
                    checked = now
                    workload = await _read_again(cluster, kind, name, namespace, version, workload)
                if workload is None or not version.seen_in(workload):
                    last = f"the cluster has not yet shown {kind} {name} as applied"
                else:
                    found = verdict(
                        {**workload, "kind": kind},
                        informers["pods"].select(labels),
                        informers["replicasets"].select(labels) if kind == "Deployment" else [],
                        pull_errors=pulls.persisting(now),
                    )
                    if isinstance(found, Ready):
                        return found
                    if isinstance(found, Failed):
                        raise StepFailed(found.reason)
                    pulls.saw(found.pull_errors, now)
                    last = found.reason
            remaining = deadline - now
            if remaining <= 0:
                said = f"{kind} {name} not ready after {timeout:g} s: {last}"
                errors = [str(i.error) for i in informers.values() if i.error is not None]
                if errors:
                    said += f" (the cluster could not be read: {errors[0]})"
                raise StepFailed(said)
            alarm.at_latest(now + min(tick, remaining, (pulls.due(now) or deadline) - now))
            await changed.wait()


def _validity(may_act: Callable[[], None] | None) -> Callable[[], bool] | None:
    """`may_act` (which raises) as a yes or no."""
    if may_act is None:
        return None
    check = may_act

    def valid() -> bool:
        try:
            check()
        except Exception:
            return False
        return True

    return valid


class _Alarm:
    """Sets `changed` at a time: the wait's next look without a change (its tick, a pull
    error's grace, its deadline). Armed again only when it rang or an earlier time is asked
    for, so the many looks that changes bring cost no timer each."""

    def __init__(self, loop: asyncio.AbstractEventLoop, changed: asyncio.Event) -> None:
        self._loop = loop
        self._changed = changed
        self._handle: asyncio.TimerHandle | None = None

    def at_latest(self, when: float) -> None:
        handle = self._handle
        if handle is not None and not handle.cancelled() and handle.when() > self._loop.time():
            if handle.when() <= when:
                return  # rings soon enough
            handle.cancel()
        self._handle = self._loop.call_at(when, self._changed.set)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


@dataclass(frozen=True, slots=True)
class _Version:
    """Which version of a workload the wait judges: the applied object's or a later one (the
    same uid, at least its generation)."""

    uid: str
    generation: int

    @classmethod
    def of(cls, workload: dict[str, Any]) -> _Version:
        meta = workload.get("metadata") or {}
        return cls(str(meta.get("uid") or ""), _int(meta.get("generation")))

    def seen_in(self, workload: dict[str, Any]) -> bool:
        found = _Version.of(workload)
        return found.uid == self.uid and found.generation >= self.generation


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


async def _read_again(
    cluster: Cluster,
    kind: str,
    name: str,
    namespace: str,
    version: _Version,
    cached: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The workload read from the cluster when it is the applied version (or later), else
    what the cache had. StepFailed when it is gone or was replaced by another (another uid);
    a temporary error keeps the cached one (the wait goes on until its timeout)."""
    try:
        found = await _existing(cluster, kind, name, namespace)
    except TemporaryError:
        return cached
    if found.get("metadata", {}).get("uid") != version.uid:
        raise StepFailed(f"{kind} {name} was deleted and made again by someone else meanwhile")
    return found if version.seen_in(found) else cached


async def _existing(cluster: Cluster, kind: str, name: str, namespace: str) -> dict[str, Any]:
    """The workload as the cluster has it now; StepFailed when it does not exist."""
    path = _collections(kind, namespace)["workload"]
    found = await cluster.get(f"{path}/{name}")
    if found is None:
        raise StepFailed(f"{kind} {name} does not exist (was it applied?)")
    return found


def _collections(kind: str, namespace: str) -> dict[str, str]:
    """The collections a wait reads: the namespace's workloads of `kind`, its pods and, for
    a Deployment, its ReplicaSets."""
    group, plural = ("apps", "deployments") if kind == "Deployment" else ("batch", "jobs")
    found = {
        "workload": f"/apis/{group}/v1/namespaces/{namespace}/{plural}",
        "pods": f"/api/v1/namespaces/{namespace}/pods",
    }
    if kind == "Deployment":
        found["replicasets"] = f"/apis/apps/v1/namespaces/{namespace}/replicasets"
    return found


def _pod_labels(manifest: dict[str, Any], kind: str, name: str) -> dict[str, str]:
    """The labels the workload's pods (and a Deployment's ReplicaSets) carry."""
    if kind == "Job":
        return {JOB_NAME_LABEL: name}
    match = ((manifest.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {str(key): str(value) for key, value in match.items()}
