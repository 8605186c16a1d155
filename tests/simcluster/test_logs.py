"""`pods/{name}/log` of the simulated cluster, as a real kube-apiserver serves it: the kubelet's
refusal of a container that has not started, `previous`, `tailLines`, and `follow=true` (what is
there, then new output as the container writes it, until that run stops, its pod goes, or the
client leaves)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from runway.simcluster import SimCluster
from runway.simcluster.controllers.pods import Container, Kubelet, container_of

pytestmark = pytest.mark.anyio

NS = "logs"
PODS = f"/api/v1/namespaces/{NS}/pods"
PATIENCE = 20.0
"""Seconds a test waits for the simulator to get somewhere (generous: a loaded machine)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Sim:
    def __init__(self, cluster: SimCluster, http: httpx.AsyncClient) -> None:
        self.cluster = cluster
        self.http = http

    async def pod(self, name: str, image: str = "nginx:1.27", **spec: Any) -> None:
        body = {
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": image}], **spec},
        }
        for _ in range(int(PATIENCE / 0.02)):  # the `default` ServiceAccount comes just after
            answer = await self.http.post(PODS, json=body)
            if answer.status_code != 403:
                break
            await asyncio.sleep(0.02)
        assert answer.status_code == 201, answer.text

    async def until(self, name: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        for _ in range(int(PATIENCE / 0.02)):
            answer = await self.http.get(f"{PODS}/{name}")
            statuses = (answer.json().get("status") or {}).get("containerStatuses") or [{}]
            if answer.status_code == 200 and check(statuses[0]):
                return dict(answer.json())
            await asyncio.sleep(0.02)
        raise AssertionError(f"pod {name} never got there: {answer.text}")

    def container(self, pod: dict[str, Any]) -> Container:
        found = container_of(self.cluster, pod, "main")
        assert found is not None
        return found

    def kubelet(self) -> Kubelet:
        return next(c for c in self.cluster.controllers.running if isinstance(c, Kubelet))


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    cluster = SimCluster(admin=True)
    cluster.behaviour.ready_delay = 0.05
    await cluster.start()
    try:
        async with httpx.AsyncClient(base_url=cluster.url, timeout=PATIENCE) as http:
            answer = await http.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
            assert answer.status_code == 201, answer.text
            yield Sim(cluster, http)
    finally:
        await cluster.stop()


def running(status: dict[str, Any]) -> bool:
    return "running" in (status.get("state") or {})


def waiting(reason: str) -> Callable[[dict[str, Any]], bool]:
    return lambda status: ((status.get("state") or {}).get("waiting") or {}).get("reason") == reason


async def next_chunk(chunks: AsyncIterator[str]) -> str:
    return await asyncio.wait_for(chunks.__anext__(), PATIENCE)


async def test_a_container_not_started_is_refused_in_the_kubelets_words(sim: Sim) -> None:
    sim.cluster.behaviour.ready_delay = 60.0
    await sim.pod("p")
    await sim.until("p", waiting("ContainerCreating"))

    for query in ("", "?follow=true"):
        answer = await sim.http.get(f"{PODS}/p/log{query}")
        assert answer.status_code == 400
        status = answer.json()
        assert (status["kind"], status["reason"], status["code"]) == ("Status", "BadRequest", 400)
        assert (
            status["message"]
            == 'container "main" in pod "p" is waiting to start: ContainerCreating'
        )
    answer = await sim.http.get(f"{PODS}/p/log?previous=true")
    assert answer.status_code == 400
    assert answer.json()["message"] == 'previous terminated container "main" in pod "p" not found'


async def test_an_image_that_cannot_be_pulled_is_said_so(sim: Sim) -> None:
    await sim.pod("p", image="nginx:pullfail")
    await sim.until("p", waiting("ImagePullBackOff"))
    answer = await sim.http.get(f"{PODS}/p/log")
    assert (answer.status_code, answer.json()["message"]) == (
        400,
        'container "main" in pod "p" is waiting to start: trying and failing to pull image',
    )


async def test_a_finished_container_is_read_whole_with_or_without_follow(sim: Sim) -> None:
    await sim.pod("p", restartPolicy="Never")
    await sim.until("p", lambda s: "terminated" in (s.get("state") or {}))

    plain = await sim.http.get(f"{PODS}/p/log")
    followed = await sim.http.get(f"{PODS}/p/log?follow=true")  # ends: the container did

    line = "simulated run of nginx:1.27 completed\n"
    assert (plain.status_code, plain.text) == (200, line)
    assert (followed.status_code, followed.text) == (200, line)
    assert followed.headers["content-type"].startswith("text/plain")


async def test_following_a_running_container_streams_what_it_writes_until_it_exits(
    sim: Sim,
) -> None:
    await sim.pod("p")
    pod = await sim.until("p", running)
    container = sim.container(pod)
    container.say("before")

    async with sim.http.stream("GET", f"{PODS}/p/log", params={"follow": "True"}) as answer:
        assert answer.status_code == 200
        chunks = answer.aiter_text()
        assert await next_chunk(chunks) == "before\n"
        container.say("while followed")
        assert await next_chunk(chunks) == "while followed\n"
        kubelet = sim.kubelet()
        kubelet._terminate(kubelet.pods[pod["metadata"]["uid"]], container, 0, "now")
        rest = [chunk async for chunk in chunks]  # the run stopped: the answer ends

    assert rest == []
    assert not container.followers


async def test_following_ends_when_the_pod_is_deleted(sim: Sim) -> None:
    await sim.pod("p")
    container = sim.container(await sim.until("p", running))

    async with sim.http.stream("GET", f"{PODS}/p/log?follow=1") as answer:
        chunks = answer.aiter_text()
        container.say("last words")
        assert await next_chunk(chunks) == "last words\n"
        deleted = await sim.http.delete(f"{PODS}/p")
        assert deleted.status_code == 200, deleted.text
        rest = [chunk async for chunk in chunks]

    assert rest == []
    assert container.gone


async def test_a_client_that_leaves_is_no_longer_followed(sim: Sim) -> None:
    await sim.pod("p")
    container = sim.container(await sim.until("p", running))

    async with sim.http.stream("GET", f"{PODS}/p/log?follow=true") as answer:
        assert answer.status_code == 200
        container.say("hello")
        assert await next_chunk(answer.aiter_text()) == "hello\n"
        assert len(container.followers) == 1

    for _ in range(int(PATIENCE / 0.02)):
        if not container.followers:
            break
        await asyncio.sleep(0.02)
    assert not container.followers, "the follower outlived its client"


async def test_tail_lines_shows_the_last_lines_then_follows(sim: Sim) -> None:
    await sim.pod("p")
    container = sim.container(await sim.until("p", running))
    for word in ("one", "two", "three"):
        container.say(word)

    tail = await sim.http.get(f"{PODS}/p/log", params={"tailLines": "2"})
    none = await sim.http.get(f"{PODS}/p/log", params={"tailLines": "0"})
    more = await sim.http.get(f"{PODS}/p/log", params={"tailLines": "10"})
    assert (tail.text, none.text, more.text) == ("two\nthree\n", "", "one\ntwo\nthree\n")

    query = {"tailLines": "1", "follow": "true"}
    async with sim.http.stream("GET", f"{PODS}/p/log", params=query) as answer:
        chunks = answer.aiter_text()
        assert await next_chunk(chunks) == "three\n"
        container.say("four")
        assert await next_chunk(chunks) == "four\n"


async def test_negative_tail_lines_are_invalid(sim: Sim) -> None:
    await sim.pod("p")
    await sim.until("p", running)
    answer = await sim.http.get(f"{PODS}/p/log", params={"tailLines": "-1"})
    assert answer.status_code == 422
    assert answer.json()["message"] == (
        'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'
    )


async def test_a_crash_looping_container_shows_its_last_run_and_follow_ends(sim: Sim) -> None:
    await sim.pod("p", image="nginx:crash")
    await sim.until("p", waiting("CrashLoopBackOff"))

    line = "simulated crash of nginx:crash: exiting with code 1\n"
    current = await sim.http.get(f"{PODS}/p/log", params={"follow": "true"})
    previous = await sim.http.get(f"{PODS}/p/log", params={"previous": "true"})
    assert (current.status_code, current.text) == (200, line)
    assert (previous.status_code, previous.text) == (200, line)


async def test_stopping_the_server_ends_followed_logs_as_it_ends_watches() -> None:
    cluster = SimCluster()
    cluster.behaviour.ready_delay = 0.05
    await cluster.start()
    try:
        async with httpx.AsyncClient(base_url=cluster.url, timeout=PATIENCE) as http:
            sim = Sim(cluster, http)
            assert (
                await http.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
            ).is_success
            await sim.pod("p")
            container = sim.container(await sim.until("p", running))
            async with http.stream("GET", f"{PODS}/p/log?follow=true") as answer:
                chunks = answer.aiter_text()
                container.say("up")
                assert await next_chunk(chunks) == "up\n"
                await cluster.stop()
                # Ended by the server, not cut: a cut chunked answer raises here.
                assert [chunk async for chunk in chunks] == []
    finally:
        await cluster.stop()
