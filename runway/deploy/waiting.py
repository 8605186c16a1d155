"""Waiting for one applied workload to be ready (runway.deploy.readiness says by which rules):
`wait_ready` reads the workload, its ReplicaSets and pods from the cluster's shared watches
(runway.deploy.informers: one list and one open watch per collection for every wait at once, not
a GET per poll) and applies `verdict` on every change and on a timer, temporary errors survived
until the step's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runway.deploy.connection import Cluster
from runway.deploy.errors import TemporaryError
from runway.deploy.informers import labelled, named
from runway.deploy.readiness import (
    JOB_NAME_LABEL,
    PULL_GRACE,
    TICK,
    WAITED_FOR,
    Failed,
    PullErrors,
    Ready,
    StepFailed,
    verdict,
)


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
        # When the workload was last read directly, for when the cache misses it (or has an
        # older version). The apply's answer counts as a read: the watch brings that version a
        # moment later, so a wait reads the cluster itself only when the watch is a tick late.
        checked = loop.time()
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
