"""Reading a step's container logs live: a finished Job's output, a crash-looping container's last
run, several pods' lines tagged with their pod, a container that has not started said in plain
words, and following: new output as it comes, ending when the containers end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runway.deploy import Target, render_step
from runway.deploy.apply import apply
from runway.deploy.environment_objects import EnvironmentSpec
from runway.deploy.environments import prepare_environment
from runway.deploy.errors import NotFound
from runway.deploy.logs import LogLine, label_selector, not_started, workload_logs
from runway.planner import plan_source
from tests.deploy.conftest import World

pytestmark = pytest.mark.anyio

PATIENCE = 30.0
"""Seconds a test waits for the cluster to get somewhere (generous: a loaded machine)."""
POLL = 0.05


def manifest(namespace: str, image: str, kind: str = "service", replicas: int = 1) -> Any:
    """The Deployment (or Job) runway renders for one service of app `blog`."""
    config = f"runway: 1\napp: blog\nservices:\n  web:\n    kind: {kind}\n    image: {image}\n" + (
        f"    replicas: {replicas}\n" if kind == "service" else ""
    )
    plan = plan_source(config.encode())
    [workload] = render_step(plan, "web", Target(namespace, "staging", 1))
    return workload


async def applied(world: World, namespace: str, workload: dict[str, Any]) -> dict[str, Any]:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace, "alice", "staging"))
    await apply(world.cluster, workload)
    return workload


async def pods(world: World, namespace: str, selector: str) -> list[dict[str, Any]]:
    path = f"/api/v1/namespaces/{namespace}/pods"
    answer = await world.cluster.request("GET", path, query=[("labelSelector", selector)])
    return list(answer["items"])


async def until_pods(world: World, namespace: str, selector: str, check: Any) -> list[Any]:
    found: list[Any] = []
    for _ in range(int(PATIENCE / POLL)):
        found = await pods(world, namespace, selector)
        if found and all(check(pod) for pod in found):
            return found
        await asyncio.sleep(POLL)
    raise AssertionError(f"the pods never got there: {found}")


def state(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0].get("state") or {})


def waiting(reason: str) -> Any:
    return lambda pod: (state(pod).get("waiting") or {}).get("reason") == reason


async def read_all(lines: AsyncIterator[LogLine]) -> list[LogLine]:
    """Every line, the iterator ending on its own within PATIENCE seconds."""

    async def collect() -> list[LogLine]:
        return [line async for line in lines]

    return await asyncio.wait_for(collect(), PATIENCE)


JOB_SELECTOR = "job-name=blog-web-1"
WEB_SELECTOR = "app.kubernetes.io/instance=blog,app.kubernetes.io/name=web"


async def test_the_output_of_a_finished_job(world: World, namespace_name: str) -> None:
    await world.behave(ready_delay=0.05)
    await applied(world, namespace_name, manifest(namespace_name, "blog:1", kind="job"))
    await until_pods(world, namespace_name, JOB_SELECTOR, lambda p: "terminated" in state(p))

    lines = await read_all(workload_logs(world.cluster, namespace_name, "Job", "blog-web-1"))

    assert [str(line) for line in lines] == ["simulated run of blog:1 completed"]
    [line] = lines
    assert (line.container, line.notice, line.tagged) == ("web", False, False)
    assert line.pod.startswith("blog-web-1-")


async def test_following_a_job_shows_its_output_once_it_runs_and_ends_with_it(
    world: World, namespace_name: str
) -> None:
    await world.behave(image_delays={"blog:slowish": 2.0})
    await applied(world, namespace_name, manifest(namespace_name, "blog:slowish", kind="job"))

    followed = workload_logs(
        world.cluster, namespace_name, "Job", "blog-web-1", follow=True, poll=POLL
    )
    lines = await read_all(followed)  # ends by itself: the Job's container ended

    output = [line.text for line in lines if not line.notice]
    notices = [line.text for line in lines if line.notice]
    assert output == ["simulated run of blog:slowish completed"]
    # Before it ran (when the machine let the test look that early): said, once per state.
    assert len(notices) == len(set(notices))
    assert all(
        "has no pods yet" in text or "is waiting to start: ContainerCreating" in text
        for text in notices
    )


async def test_a_container_not_started_yet_is_said_in_plain_words(
    world: World, namespace_name: str
) -> None:
    await world.behave(image_delays={"blog:later": 600.0})
    await applied(world, namespace_name, manifest(namespace_name, "blog:later"))
    [pod] = await until_pods(world, namespace_name, WEB_SELECTOR, waiting("ContainerCreating"))

    lines = await read_all(workload_logs(world.cluster, namespace_name, "Deployment", "blog-web"))

    name = pod["metadata"]["name"]
    assert [str(line) for line in lines] == [
        f"runway: the container web of pod {name} is waiting to start: ContainerCreating"
    ]


async def test_a_crash_looping_container_shows_its_last_run_and_following_ends(
    world: World, namespace_name: str
) -> None:
    await world.behave(ready_delay=0.05)
    await applied(world, namespace_name, manifest(namespace_name, "blog:crash", replicas=2))
    found = await until_pods(world, namespace_name, WEB_SELECTOR, waiting("CrashLoopBackOff"))
    assert len(found) == 2

    for follow in (False, True):
        lines = await read_all(
            workload_logs(
                world.cluster, namespace_name, "Deployment", "blog-web", follow=follow, poll=POLL
            )
        )
        crash = "simulated crash of blog:crash: exiting with code 1"
        assert sorted(str(line) for line in lines) == sorted(
            f"[{pod['metadata']['name']}/web] {crash}" for pod in found
        )
        assert all(line.tagged and not line.notice for line in lines)


async def test_following_a_running_container_lasts_until_it_ends(
    world: World, namespace_name: str
) -> None:
    await world.behave(ready_delay=0.05)
    workload = await applied(world, namespace_name, manifest(namespace_name, "blog:1"))
    await until_pods(world, namespace_name, WEB_SELECTOR, lambda p: "running" in state(p))
    lines = workload_logs(
        world.cluster, namespace_name, "Deployment", "blog-web", follow=True, poll=POLL
    )
    reading = asyncio.create_task(read_all(lines))
    try:
        # While its container runs (silently), following goes on.
        done, _ = await asyncio.wait({reading}, timeout=1.0)
        assert not done, f"following ended while the container ran: {reading.result()}"

        workload["spec"]["replicas"] = 0  # its pod goes: the container ends
        await apply(world.cluster, workload)

        assert [line for line in await reading if not line.notice] == []
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


async def test_a_caller_that_stops_reading_closes_the_stream(
    world: World, namespace_name: str
) -> None:
    await world.behave(ready_delay=0.05)
    await applied(world, namespace_name, manifest(namespace_name, "blog:1"))
    await until_pods(world, namespace_name, WEB_SELECTOR, lambda p: "running" in state(p))
    lines = workload_logs(
        world.cluster, namespace_name, "Deployment", "blog-web", follow=True, poll=POLL
    )

    async with contextlib.aclosing(lines):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(lines), 0.5)  # nothing written: still following

    readers = [t for t in asyncio.all_tasks() if "_Reader._read" in repr(t.get_coro())]
    assert readers == [], "closed, yet still reading"


async def test_a_missing_deployment_is_not_found(world: World, namespace_name: str) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    with pytest.raises(NotFound, match=f"the Deployment nope does not exist in {namespace_name}"):
        await read_all(workload_logs(world.cluster, namespace_name, "Deployment", "nope"))


async def test_a_job_without_pods_yet_says_so(world: World, namespace_name: str) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    lines = await read_all(workload_logs(world.cluster, namespace_name, "Job", "blog-web-9"))
    assert [str(line) for line in lines] == ["runway: the Job blog-web-9 has no pods yet"]


def test_selectors_are_written_as_the_api_reads_them() -> None:
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector(selector) == "a=1,b=2,tier in (web,api),!canary"


def test_why_a_container_has_no_log_yet() -> None:
    def pod(**status: Any) -> dict[str, Any]:
        return {"metadata": {"name": "p"}, "status": status}

    def entry(state: dict[str, Any], last: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": "web", "state": state, "lastState": last or {}}

    assert not_started(pod(containerStatuses=[entry({"running": {}})]), "web") is None
    crashed = entry({"waiting": {"reason": "CrashLoopBackOff"}}, {"terminated": {"exitCode": 1}})
    assert not_started(pod(containerStatuses=[crashed]), "web") is None
    pulling = entry({"waiting": {"reason": "ImagePullBackOff", "message": "long dump"}})
    assert not_started(pod(containerStatuses=[pulling]), "web") == (
        "the container web of pod p is waiting to start: ImagePullBackOff"
    )
    unscheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    assert not_started(pod(conditions=[unscheduled]), "web") == (
        "the pod p is not scheduled yet (Unschedulable)"
    )


async def test_a_container_the_kubelet_says_is_waiting_is_said_in_plain_words_too(
    world: World, namespace_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.behave(image_delays={"blog:later": 600.0})
    await applied(world, namespace_name, manifest(namespace_name, "blog:later"))
    [pod] = await until_pods(world, namespace_name, WEB_SELECTOR, waiting("ContainerCreating"))
    # As if the pod had been read as started: the log request itself is refused (400).
    monkeypatch.setattr("runway.deploy.logs.not_started", lambda pod, container: None)

    lines = await read_all(workload_logs(world.cluster, namespace_name, "Deployment", "blog-web"))

    name = pod["metadata"]["name"]
    assert [str(line) for line in lines] == [
        f"runway: the container web of pod {name} is waiting to start: ContainerCreating"
    ]
