"""Waiting for readiness: `verdict` on every state DESIGN.md names (no cluster), then
`wait_ready` against the simulated cluster, whose images behave by their tags."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Any

import pytest

from runway.deploy.apply import apply
from runway.deploy.environment_objects import EnvironmentSpec
from runway.deploy.environments import prepare_environment
from runway.deploy.readiness import (
    Failed,
    PullErrors,
    Ready,
    StepFailed,
    Waiting,
    newest_replicaset,
    verdict,
)
from runway.deploy.waiting import wait_ready
from tests.deploy.conftest import World

LABELS = {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "blog"}

# -- pure verdicts ---------------------------------------------------------------------------


def _dep(
    *,
    generation: int = 1,
    observed: int = 1,
    wanted: int = 2,
    updated: int = 2,
    replicas: int = 2,
    available: int = 2,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "blog-web", "uid": "d1", "generation": generation},
        "spec": {"replicas": wanted, "selector": {"matchLabels": LABELS}},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "replicas": replicas,
            "availableReplicas": available,
            "conditions": conditions or [],
        },
    }


def _rs(digest: str, revision: int, owner: str = "d1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"blog-web-{digest}",
            "labels": {**LABELS, "pod-template-hash": digest},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Deployment", "name": "blog-web", "uid": owner}],
        }
    }


RSS = [_rs("old", 1), _rs("new", 2)]


def _pod(
    name: str = "blog-web-new-a",
    digest: str = "new",
    *,
    waiting: dict[str, Any] | None = None,
    restarts: int = 0,
    last: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    terminated: dict[str, Any] | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if waiting is not None:
        state = {"waiting": waiting}
    if terminated is not None:
        state = {"terminated": terminated}
    return {
        "metadata": {"name": name, "labels": {**LABELS, "pod-template-hash": digest}},
        "status": {
            "conditions": conditions or [],
            "containerStatuses": [
                {
                    "name": "web",
                    "image": "web:1",
                    "state": state,
                    "lastState": last or {},
                    "restartCount": restarts,
                }
            ],
        },
    }


def test_a_rolled_out_deployment_is_ready() -> None:
    assert isinstance(verdict(_dep(), [_pod()], RSS), Ready)


def test_the_last_rollouts_troubles_do_not_fail_the_version_that_fixes_them() -> None:
    crashing = _pod(waiting={"reason": "CrashLoopBackOff"}, restarts=5)
    stuck = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    # Applied as generation 3: the controller has not seen it yet.
    unseen = _dep(generation=3, observed=2, conditions=stuck)
    found = verdict(unseen, [crashing], RSS)
    assert isinstance(found, Waiting) and "generation 3" in found.reason
    # Seen (revision 3), but its ReplicaSet is not in what was read yet: the newest read is
    # revision 2's, whose crashing pods are not the new version's.
    seen = _dep(generation=3, observed=3, updated=0)
    seen["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "3"}
    assert isinstance(verdict(seen, [crashing], RSS), Waiting)
    assert isinstance(verdict(_dep(), [crashing], RSS), Failed)  # its own pods: failed


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"observed": 0}, "generation 1"),
        ({"updated": 1}, "1 of 2 replicas updated"),
        ({"replicas": 3}, "1 old replicas"),
        ({"available": 1}, "1 of 2 updated replicas available"),
    ],
)
def test_rollout_status_rules_keep_it_waiting(fields: dict[str, Any], said: str) -> None:
    found = verdict(_dep(**fields), [_pod()], RSS)
    assert isinstance(found, Waiting) and said in found.reason


def test_replica_failure_fails_naming_the_quota() -> None:
    message = 'pods "x" is forbidden: exceeded quota: runway, requested: pods=1, used: pods=1, limited: pods=1'
    condition = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": message,
    }
    found = verdict(_dep(conditions=[condition]), [], RSS)
    assert (
        isinstance(found, Failed) and "exceeded quota" in found.reason and "pods=1" in found.reason
    )


def test_progress_deadline_exceeded_fails() -> None:
    condition = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    found = verdict(_dep(available=0, conditions=[condition]), [], RSS)
    assert isinstance(found, Failed) and "deadline" in found.reason


def test_err_image_pull_fails_only_when_it_persists() -> None:
    pod = _pod(waiting={"reason": "ErrImagePull", "message": "not found"})
    first = verdict(_dep(available=0), [pod], RSS)
    assert isinstance(first, Waiting) and "ErrImagePull" in first.reason
    second = verdict(_dep(available=0), [pod], RSS, pull_errors=first.pull_errors)
    assert isinstance(second, Failed)
    assert "pod blog-web-new-a container web" in second.reason and "ErrImagePull" in second.reason


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "InvalidImageName"])
def test_pull_back_off_and_invalid_names_fail_at_once(reason: str) -> None:
    pod = _pod(waiting={"reason": reason, "message": "nope"})
    found = verdict(_dep(available=0), [pod], RSS)
    assert isinstance(found, Failed) and reason in found.reason and "blog-web-new-a" in found.reason


def test_a_crash_loop_fails_with_restarts_and_last_exit() -> None:
    pod = _pod(
        waiting={"reason": "CrashLoopBackOff"},
        restarts=3,
        last={"terminated": {"reason": "Error", "exitCode": 137}},
    )
    found = verdict(_dep(available=0), [pod], RSS)
    assert isinstance(found, Failed)
    assert "CrashLoopBackOff" in found.reason and "3 times" in found.reason
    assert "Error (exit code 137)" in found.reason


def test_a_missing_secret_fails_with_its_message() -> None:
    pod = _pod(waiting={"reason": "CreateContainerConfigError", "message": 'secret "s" not found'})
    found = verdict(_dep(available=0), [pod], RSS)
    assert isinstance(found, Failed) and "CreateContainerConfigError" in found.reason
    assert 'secret "s" not found' in found.reason


def test_an_unschedulable_pod_fails_with_the_message() -> None:
    scheduled = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/1 nodes",
    }
    pod = _pod(conditions=[scheduled])
    found = verdict(_dep(available=0), [pod], RSS)
    assert (
        isinstance(found, Failed)
        and "Unschedulable" in found.reason
        and "0/1 nodes" in found.reason
    )


def test_only_the_newest_replicasets_pods_count() -> None:
    crashing_old = _pod("blog-web-old-a", "old", waiting={"reason": "CrashLoopBackOff"})
    found = verdict(_dep(replicas=3), [crashing_old, _pod()], RSS)
    assert isinstance(found, Waiting)
    assert newest_replicaset(_dep(), [_rs("x", 9, owner="other"), *RSS]) == RSS[1]


def test_jobs_by_their_conditions() -> None:
    job: dict[str, Any] = {
        "kind": "Job",
        "metadata": {"name": "blog-migrate-1"},
        "status": {"active": 1},
    }
    assert isinstance(verdict(job, []), Waiting)
    done = {**job, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert isinstance(verdict(done, []), Ready)
    failed = {
        **job,
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "limit",
                }
            ]
        },
    }
    pod = _pod("blog-migrate-1-x", terminated={"exitCode": 1, "reason": "Error"})
    found = verdict(failed, [pod])
    assert isinstance(found, Failed)
    assert "BackoffLimitExceeded" in found.reason and "exited with code 1" in found.reason


def test_a_jobs_pod_that_cannot_pull_fails_it() -> None:
    job: dict[str, Any] = {"kind": "Job", "metadata": {"name": "blog-migrate-1"}, "status": {}}
    pod = _pod("blog-migrate-1-x", waiting={"reason": "ImagePullBackOff"})
    assert isinstance(verdict(job, [pod]), Failed)


def test_other_kinds_are_not_waited_for() -> None:
    assert isinstance(verdict({"kind": "PersistentVolumeClaim"}, []), Ready)


def test_err_image_pull_persists_only_after_its_grace_without_a_break() -> None:
    pulls = PullErrors(3.0)
    pulls.saw(frozenset({"p/c", "q/c"}), 10.0)
    assert pulls.persisting(12.9) == frozenset() and pulls.due(12.9) == 13.0
    pulls.saw(frozenset({"p/c"}), 12.0)  # q/c was pulled after all: forgotten
    assert pulls.persisting(13.0) == frozenset({"p/c"}) and pulls.due(13.0) is None
    pulls.saw(frozenset({"q/c"}), 13.5)  # back in ErrImagePull: it starts again
    assert pulls.persisting(16.4) == frozenset() and pulls.persisting(16.5) == {"q/c"}


# -- against the simulated cluster -----------------------------------------------------------


def _deployment(namespace: str, image: str, replicas: int = 1, **pod: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": image, **pod}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "blog-web", "namespace": namespace, "labels": LABELS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {"automountServiceAccountToken": False, "containers": [container]},
            },
        },
    }


def _job(namespace: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "blog-migrate-1", "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "automountServiceAccountToken": False,
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": image}],
                }
            },
        },
    }


async def _applied(
    world: World, namespace: str, manifest: dict[str, Any], ready_delay: float = 0.05, **quota: str
) -> dict[str, Any]:
    await world.behave(ready_delay=ready_delay)
    await prepare_environment(world.cluster, EnvironmentSpec(namespace, "alice", "staging", quota))
    await apply(world.cluster, manifest)
    return manifest


@pytest.mark.anyio
async def test_an_ordinary_deployment_becomes_ready(world: World, namespace_name: str) -> None:
    manifest = await _applied(world, namespace_name, _deployment(namespace_name, "web:1", 2))
    found = await wait_ready(world.cluster, manifest, timeout=10)
    assert "2 of 2" in found.reason
    await _watches_stop_after_their_linger(world)


def _watching() -> list[asyncio.Task[Any]]:
    """The shared watch tasks still running in this event loop."""
    return [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "") == "Informers._watch"
    ]


async def _watches_stop_after_their_linger(world: World) -> None:
    """No wait reads the shared watches any more, and they stop once they linger unread."""
    informers = world.cluster.informers
    assert all(i.count == 0 for i in informers._informers.values())
    informers.linger = 0.05
    for informer in list(informers._informers.values()):  # restart their idle timers
        async with informers.read(informer.path, asyncio.Event()):
            pass
    for _ in range(100):
        if not _watching():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(_watching())} watches still open")


async def _watches_opened(world: World, since: int, namespace: str) -> list[dict[str, Any]]:
    found, _ = await world.requests_since(since)
    return [
        r
        for r in found
        if f"/namespaces/{namespace}/" in r["path"]
        and urllib.parse.parse_qs(r["query"]).get("watch") == ["true"]
    ]


@pytest.mark.anyio
async def test_a_rollout_of_seconds_is_waited_for_with_a_handful_of_requests(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    manifest = await _applied(
        world, namespace_name, _deployment(namespace_name, "web:1", 2), ready_delay=3.0
    )
    _, since = await world.requests_since(0)
    began = time.monotonic()
    found = await wait_ready(world.cluster, manifest, timeout=30)
    took = time.monotonic() - began
    assert "2 of 2" in found.reason and took >= 2.0  # it did wait for the rollout
    requests, _ = await world.requests_since(since)
    mine = [r for r in requests if f"/namespaces/{namespace_name}/" in r["path"]]
    # The Deployment read once, then one list and one watch each of the namespace's
    # Deployments, ReplicaSets and pods; polling every half second would have made three GETs
    # per look, 12 or more in these seconds.
    watches = await _watches_opened(world, since, namespace_name)
    assert len(watches) == 3 and len(mine) <= 8, [(r["path"], r["query"]) for r in mine]
    assert all(r["method"] == "GET" for r in mine)


@pytest.mark.anyio
async def test_waits_in_one_namespace_share_their_watches(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    first = await _applied(
        world, namespace_name, _deployment(namespace_name, "web:1"), ready_delay=0.5
    )
    second = _deployment(namespace_name, "web:1")
    second["metadata"]["name"] = "blog-api"
    labels = {**LABELS, "app.kubernetes.io/component": "api"}
    second["spec"]["selector"]["matchLabels"] = labels
    second["spec"]["template"]["metadata"]["labels"] = labels
    await apply(world.cluster, second)
    _, since = await world.requests_since(0)
    found = await asyncio.gather(
        *(wait_ready(world.cluster, m, timeout=30) for m in (first, second, first))
    )
    assert all("1 of 1" in f.reason for f in found)
    # Three waits, two workloads: one watch each of the Deployments, ReplicaSets and pods.
    assert len(await _watches_opened(world, since, namespace_name)) == 3


@pytest.mark.anyio
async def test_a_wait_judges_the_version_it_applied_not_an_older_one_in_the_cache(
    world: World, namespace_name: str
) -> None:
    manifest = await _applied(
        world, namespace_name, _deployment(namespace_name, "web:1"), ready_delay=0.05
    )
    await wait_ready(world.cluster, manifest, timeout=10)  # the watches hold version 1, ready
    await world.behave(ready_delay=1.5)
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"
    answer = await apply(world.cluster, manifest)
    began = time.monotonic()
    found = await wait_ready(world.cluster, manifest, timeout=30, applied=answer)
    assert "1 of 1" in found.reason
    assert time.monotonic() - began >= 1.0, "it judged version 1, ready in the cache"


@pytest.mark.anyio
async def test_cancelling_a_wait_stops_it_at_once_and_its_watches_after_their_linger(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    manifest = await _applied(
        world, namespace_name, _deployment(namespace_name, "web:1"), ready_delay=60.0
    )
    _, since = await world.requests_since(0)
    waiting = asyncio.create_task(wait_ready(world.cluster, manifest, timeout=60))
    for _ in range(200):
        if len(await _watches_opened(world, since, namespace_name)) == 3:
            break
        await asyncio.sleep(0.05)
    assert len(_watching()) == 3 and not waiting.done()
    began = time.monotonic()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert time.monotonic() - began < 2.0
    await _watches_stop_after_their_linger(world)


@pytest.mark.anyio
async def test_an_image_that_cannot_be_pulled_fails_within_seconds(
    world: World, namespace_name: str
) -> None:
    manifest = await _applied(world, namespace_name, _deployment(namespace_name, "web:pullfail"))
    began = time.monotonic()
    with pytest.raises(StepFailed, match=r"ErrImagePull|ImagePullBackOff"):
        await wait_ready(world.cluster, manifest, timeout=10)
    assert time.monotonic() - began < 5


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("grace", "reason"), [(0.3, r"\(ErrImagePull\)"), (30.0, r"\(ImagePullBackOff\)")]
)
async def test_err_image_pull_fails_when_it_persists_even_without_an_event(
    world: World, namespace_name: str, grace: float, reason: str
) -> None:
    # The simulator shows ErrImagePull for a second, then ImagePullBackOff: within that second
    # no event comes, so only the timer can see that a short grace has passed.
    manifest = await _applied(world, namespace_name, _deployment(namespace_name, "web:pullfail"))
    with pytest.raises(StepFailed, match=reason):
        await wait_ready(world.cluster, manifest, timeout=10, pull_grace=grace)


@pytest.mark.anyio
async def test_a_crash_loop_fails_with_its_reason(world: World, namespace_name: str) -> None:
    manifest = await _applied(world, namespace_name, _deployment(namespace_name, "web:crash"))
    with pytest.raises(StepFailed, match=r"CrashLoopBackOff.*exit code 1"):
        await wait_ready(world.cluster, manifest, timeout=10)


@pytest.mark.anyio
async def test_a_job_completes(world: World, namespace_name: str) -> None:
    manifest = await _applied(world, namespace_name, _job(namespace_name, "migrate:1"))
    found = await wait_ready(world.cluster, manifest, timeout=10)
    assert "completed" in found.reason


@pytest.mark.anyio
async def test_a_job_that_exits_1_fails(world: World, namespace_name: str) -> None:
    manifest = await _applied(world, namespace_name, _job(namespace_name, "migrate:fail"))
    with pytest.raises(StepFailed, match=r"failed.*exited with code 1"):
        await wait_ready(world.cluster, manifest, timeout=10)


@pytest.mark.anyio
async def test_a_missing_secret_fails_naming_the_config_error(
    world: World, namespace_name: str
) -> None:
    env = [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "pw"}}}]
    manifest = await _applied(world, namespace_name, _deployment(namespace_name, "web:1", env=env))
    with pytest.raises(StepFailed, match=r'CreateContainerConfigError.*secret "absent" not found'):
        await wait_ready(world.cluster, manifest, timeout=10)


@pytest.mark.anyio
async def test_a_deployment_over_quota_fails_naming_the_quota(
    world: World, namespace_name: str
) -> None:
    manifest = await _applied(
        world, namespace_name, _deployment(namespace_name, "web:1", 3), pods="1"
    )
    with pytest.raises(StepFailed, match=r"exceeded quota.*pods"):
        await wait_ready(world.cluster, manifest, timeout=10)


@pytest.mark.anyio
async def test_a_slow_image_past_the_timeout_fails_with_the_last_state(
    world: World, namespace_name: str
) -> None:
    manifest = await _applied(world, namespace_name, _deployment(namespace_name, "web:slow"))
    with pytest.raises(StepFailed, match=r"not ready after 0.5 s: .*0 of 1"):
        await wait_ready(world.cluster, manifest, timeout=0.5)


@pytest.mark.anyio
async def test_objects_that_are_not_workloads_are_not_waited_for(world: World) -> None:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "x"}}
    assert isinstance(await wait_ready(world.cluster, claim, timeout=0.01), Ready)


@pytest.mark.anyio
async def test_a_cluster_failing_for_a_moment_is_retried_until_ready(
    world: World, namespace_name: str
) -> None:
    manifest = await _applied(world, namespace_name, _deployment(namespace_name, "web:1"))
    pods = f"/api/v1/namespaces/{namespace_name}/pods"
    _, since = await world.requests_since(0)
    await world.inject(kind="status", status=500, count=2, path=pods, method="GET")
    await world.inject(kind="drop", count=1, path=pods)
    found = await wait_ready(world.cluster, manifest, timeout=10)
    assert "1 of 1" in found.reason
    requests, _ = await world.requests_since(since)
    statuses = [r["status"] for r in requests if r["path"] == pods]
    assert statuses[:3] == [500, 500, 0] and statuses[-1] == 200


@pytest.mark.anyio
async def test_a_workload_that_was_never_applied_fails(world: World, namespace_name: str) -> None:
    world.require_sim()
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    with pytest.raises(StepFailed, match="does not exist"):
        await wait_ready(world.cluster, _deployment(namespace_name, "web:1"), timeout=5)


@pytest.mark.anyio
async def test_a_wait_whose_caller_may_no_longer_act_asks_the_cluster_nothing(
    world: World, namespace_name: str
) -> None:
    """An instance paused past its lease wakes up waiting: its shared watches hold every
    request back (the new owner alone talks to the cluster) until a reader may act again."""
    world.require_sim()
    manifest = await _applied(
        world, namespace_name, _deployment(namespace_name, "web:1"), ready_delay=0.3
    )
    allowed = False

    def may_act() -> None:
        if not allowed:
            raise RuntimeError("the lease is no longer surely held")

    _, since = await world.requests_since(0)
    waiting = asyncio.create_task(wait_ready(world.cluster, manifest, timeout=30, may_act=may_act))
    await asyncio.sleep(1.0)
    requests, _ = await world.requests_since(since)
    assert [r for r in requests if f"/namespaces/{namespace_name}/" in r["path"]] == [
        r
        for r in requests
        if r["path"].endswith("/deployments/blog-web")  # the GET of `applied`
    ]
    assert not waiting.done()
    allowed = True
    found = await asyncio.wait_for(waiting, 30)
    assert "1 of 1" in found.reason
    await _watches_stop_after_their_linger(world)
