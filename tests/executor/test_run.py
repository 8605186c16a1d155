"""The executor against the simulated cluster, on SQLite and Postgres: failures skip what depends
on them while independent steps finish, waiting holds no slot, cancel stops readiness waits, a
stopped instance's deployment is resumed by the next, and a success prunes what it no longer has.
"""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from runway.store import Answer, DeploymentStatus, StepStatus
from runway.store.records import Deployment
from tests.executor.conftest import Place

pytestmark = pytest.mark.anyio

D = DeploymentStatus
S = StepStatus


def config(body: str) -> str:
    return "runway: 1\n" + textwrap.dedent(body)


FAILING = config("""
    app: shop
    services:
      base: {image: "base:1", ports: [80], ready: {tcp: 80}}
      broken: {image: "api:pullfail", ports: [80], ready: {tcp: 80}, depends_on: [base]}
      after: {image: "front:1", ports: [80], ready: {tcp: 80}, depends_on: [broken]}
      side: {image: "side:slow", ports: [80], ready: {tcp: 80}}
    """)


def statuses(deployment: Deployment) -> dict[str, StepStatus]:
    return {step.name: step.status for step in deployment.steps}


async def until(
    place: Place, deployment: Deployment, check: object, seconds: float = 30
) -> Deployment:
    """The deployment once `check(deployment)` holds."""
    found = deployment
    for _ in range(int(seconds / 0.05)):
        found = await place.reread(deployment)
        if check(found):  # type: ignore[operator]
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never got there: {found.status} {statuses(found)}")


async def test_a_failure_skips_its_dependents_while_independent_steps_finish(place: Place) -> None:
    await place.world.behave(slow_delay=2.0)
    deployment = await place.deployment(FAILING)
    executor = place.executor()
    try:
        await executor.start(deployment)
        assert await asyncio.wait_for(executor.wait(deployment.id), 60) is D.FAILED
    finally:
        await executor.close()
    done = await place.reread(deployment)
    assert statuses(done) == {
        "base": S.SUCCEEDED,
        "side": S.SUCCEEDED,  # started before the failure, so it settled
        "broken": S.FAILED,
        "after": S.SKIPPED,
    }
    broken = next(step for step in done.steps if step.name == "broken")
    assert broken.reason is not None and "ErrImagePull" in broken.reason
    assert done.reason is not None and done.reason.startswith("step broken failed:")
    events = await place.store.deployments.events(deployment.id)
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    assert events[-1].data["status"] == "failed" and events[-1].data["step"] == "broken"


WAITING = config("""
    app: forms
    inputs:
      greeting: {prompt: Greeting?}
    services:
      asks:
        image: "web:1"
        ports: [80]
        ready: {tcp: 80}
        env: {GREETING: "${{ inputs.greeting }}"}
      quiet: {image: "web:1", ports: [80], ready: {tcp: 80}}
    """)


async def test_a_step_waiting_for_input_holds_no_slot_and_goes_on_once_answered(
    place: Place,
) -> None:
    deployment = await place.deployment(WAITING)
    executor = place.executor(per_deployment=1)
    try:
        await executor.start(deployment)
        waiting = await until(
            place,
            deployment,
            lambda d: statuses(d) == {"asks": S.WAITING_FOR_INPUT, "quiet": S.SUCCEEDED},
        )
        assert waiting.status is D.WAITING_FOR_INPUT
        await place.store.deployments.put_answers(
            deployment.id, [Answer(input="greeting", source="answer", value="hello")]
        )
        await executor.answered(deployment.id)
        assert await asyncio.wait_for(executor.wait(deployment.id), 60) is D.SUCCEEDED
    finally:
        await executor.close()
    stored = await place.store.deployments.events(deployment.id)
    kinds = [(e.type, e.data.get("status")) for e in stored]
    assert ("deployment", "waiting_for_input") in kinds
    assert kinds.index(("deployment", "waiting_for_input")) < kinds.index(
        ("deployment", "succeeded")
    )
    # The question, once, right after the step that asks it began to wait for it.
    questions = [(i, e.data) for i, e in enumerate(stored) if e.type == "question"]
    assert [data for _, data in questions] == [{"step": "asks", "input": "greeting"}]
    assert kinds[questions[0][0] - 1] == ("step", "waiting_for_input")


SLOW = config("""
    app: slowpoke
    services:
      first: {image: "web:slow", ports: [80], ready: {tcp: 80}}
      second: {image: "web:1", ports: [80], ready: {tcp: 80}, depends_on: [first]}
    """)


async def test_cancel_stops_the_readiness_wait_at_once_and_skips_nothing_else(
    place: Place,
) -> None:
    await place.world.behave(slow_delay=120.0)
    deployment = await place.deployment(SLOW)
    executor = place.executor()
    try:
        await executor.start(deployment)
        running = await until(place, deployment, lambda d: statuses(d)["first"] is S.WAITING_READY)
        began = asyncio.get_running_loop().time()
        await executor.cancel(running)
        took = asyncio.get_running_loop().time() - began
    finally:
        await executor.close()
    done = await place.reread(deployment)
    assert done.status is D.CANCELLED
    assert statuses(done) == {"first": S.CANCELLED, "second": S.CANCELLED}
    assert took < 10, f"cancel took {took:.1f} s"
    # The applied objects stay (DESIGN.md: nothing is pruned on cancel).
    path = f"/apis/apps/v1/namespaces/{place.environment.namespace}/deployments/slowpoke-first"
    assert await place.world.cluster.get(path) is not None


async def test_a_deployment_left_running_by_a_stopped_instance_is_resumed(place: Place) -> None:
    await place.world.behave(slow_delay=8.0)
    deployment = await place.deployment(SLOW)
    first = place.executor()
    await first.start(deployment)
    await until(place, deployment, lambda d: statuses(d)["first"] is S.WAITING_READY)
    await first.close()  # the instance stops: nothing written, the step stays waiting_ready
    left = await place.reread(deployment)
    assert (left.status, statuses(left)["first"]) == (D.RUNNING, S.WAITING_READY)
    second = place.executor()
    try:
        assert await second.resume() == 1
        assert await asyncio.wait_for(second.wait(deployment.id), 60) is D.SUCCEEDED
    finally:
        await second.close()
    events = await place.store.deployments.events(deployment.id)
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    steps = [(e.data["step"], e.data["status"]) for e in events if e.type == "step"]
    # The resumed step was applied again (idempotent), then waited for, then succeeded.
    assert steps.count(("first", "applying")) == 2
    assert steps[-2:] == [("second", "waiting_ready"), ("second", "succeeded")]


VERSION_1 = config("""
    app: pruned
    services:
      keep: {image: "web:1", ports: [80], ready: {tcp: 80}}
      drop: {image: "web:1", ports: [80], ready: {tcp: 80}}
      setup: {kind: job, image: "tool:1"}
    """)
VERSION_2 = config("""
    app: pruned
    services:
      keep: {image: "web:2", ports: [80], ready: {tcp: 80}}
      setup: {kind: job, image: "tool:1"}
    """)


async def test_a_success_prunes_what_the_deployment_no_longer_has(place: Place) -> None:
    cluster, namespace = place.world.cluster, place.environment.namespace
    for text in (VERSION_1, VERSION_2):
        deployment = await place.deployment(text)
        executor = place.executor()
        try:
            await executor.start(deployment)
            assert await asyncio.wait_for(executor.wait(deployment.id), 60) is D.SUCCEEDED
        finally:
            await executor.close()
    apps = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    assert await cluster.get(f"{apps}/pruned-keep") is not None
    assert await cluster.get(f"/api/v1/namespaces/{namespace}/services/pruned-keep") is not None
    assert await cluster.get(f"{jobs}/pruned-setup-2") is not None
    for path in (
        f"{apps}/pruned-drop",
        f"/api/v1/namespaces/{namespace}/services/pruned-drop",
        f"{jobs}/pruned-setup-1",
    ):
        found = await cluster.get(path)
        assert found is None or found["metadata"].get("deletionTimestamp"), path


HOSTED = config("""
    app: site
    inputs:
      domain: {prompt: Domain?}
    services:
      web:
        image: "web:1"
        ports: [80]
        ready: {tcp: 80}
        expose: {host: "${{ inputs.domain }}", port: 80}
    """)


async def test_a_templated_host_another_app_holds_fails_the_step_naming_nothing_of_it(
    place: Place,
) -> None:
    other = await place.store.environments.create(
        place.user, "production", place.environment.created_at
    )
    await place.store.hosts.claim(other.id, "elsewhere", ["taken.example.org"])
    deployment = await place.deployment(HOSTED)
    await place.store.deployments.put_answers(
        deployment.id, [Answer(input="domain", source="answer", value="taken.example.org")]
    )
    executor = place.executor()
    try:
        await executor.start(deployment)
        assert await asyncio.wait_for(executor.wait(deployment.id), 60) is D.FAILED
    finally:
        await executor.close()
    done = await place.reread(deployment)
    [web] = done.steps
    assert web.status is S.FAILED
    assert web.reason is not None and "taken.example.org" in web.reason
    assert "elsewhere" not in web.reason and "production" not in web.reason
    ingress = (
        f"/apis/networking.k8s.io/v1/namespaces/{place.environment.namespace}/ingresses/site-web"
    )
    assert await place.world.cluster.get(ingress) is None


async def test_an_instance_that_lost_its_lease_stops_and_the_taker_finishes(
    place: Place,
) -> None:
    await place.world.behave(slow_delay=4.0)
    deployment = await place.deployment(SLOW)
    quick = {"lease_ttl": 2.0, "lease_renew": 0.3, "lease_scan": 0.3}
    first, second = place.executor(**quick), place.executor(**quick)
    try:
        await first.start(deployment)
        assert await second.resume() == 0  # held by the first
        await until(place, deployment, lambda d: statuses(d)["first"] is S.WAITING_READY)
        held = await place.store.leases.current(deployment.id)
        assert held is not None and held.owner == first.instance
        # As if the first instance froze past its lease: it lapses, the second takes it over.
        await place.store.leases.release(held)
        for _ in range(200):
            if second.running(deployment.id):
                break
            await asyncio.sleep(0.05)
        assert second.running(deployment.id), "the second instance never took it over"
        assert await asyncio.wait_for(second.wait(deployment.id), 30) is D.SUCCEEDED
        for _ in range(100):
            if not first.running(deployment.id):
                break
            await asyncio.sleep(0.05)
        assert not first.running(deployment.id), "the first instance kept running it"
    finally:
        await first.close()
        await second.close()
    taker = await place.store.leases.current(deployment.id)
    assert taker is None  # released when it ended
    events = await place.store.deployments.events(deployment.id)
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    assert events[-1].data["status"] == "succeeded"
