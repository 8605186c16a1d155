"""Deployments left half-ended by an instance that stopped are ended properly by the next, and
nothing starts after a failure, even a step that was waiting for a slot."""

from __future__ import annotations

import asyncio

import pytest

from runway.store import Deployment, DeploymentStatus, StepStatus
from runway.store.transitions import StepChange
from tests.executor.conftest import Place
from tests.executor.test_run import config, statuses
from tests.store.store_worlds import NOW

pytestmark = pytest.mark.anyio

D = DeploymentStatus
S = StepStatus

TWO = config("""
    app: duo
    services:
      a: {image: "a:1", ports: [80], ready: {tcp: 80}}
      b: {image: "b:1", ports: [80], ready: {tcp: 80}}
    """)


async def left_as(place: Place, paths: dict[str, list[StepStatus]]) -> Deployment:
    """A started deployment whose steps went through `paths`, as a stopped instance left it."""
    deployment = await place.deployment(TWO)
    await place.store.transitions.start(deployment.id, now=NOW)
    for name, path in paths.items():
        for status in path:
            change = StepChange(name, status, list(S))
            await place.store.transitions.steps(deployment.id, [change], now=NOW)
    return deployment


async def resumed(place: Place, deployment: Deployment) -> Deployment:
    executor = place.executor()
    try:
        assert await executor.resume() == 1
        assert await asyncio.wait_for(executor.wait(deployment.id), 30) is not None
    finally:
        await executor.close()
    # The takeover is in the history, naming the instance that took it.
    events = await place.store.deployments.events(deployment.id)
    assert [e.data for e in events if e.type == "lease"] == [{"instance": executor.instance}]
    return await place.reread(deployment)


async def test_a_failure_with_a_step_still_applying_ends_failed(place: Place) -> None:
    deployment = await left_as(place, {"a": [S.APPLYING, S.FAILED], "b": [S.APPLYING]})
    done = await resumed(place, deployment)
    assert done.status is D.FAILED
    assert statuses(done) == {"a": S.FAILED, "b": S.CANCELLED}
    [b] = [step for step in done.steps if step.name == "b"]
    assert b.reason is not None and b.reason.startswith("interrupted")


async def test_a_cancel_half_written_is_finished(place: Place) -> None:
    deployment = await left_as(
        place, {"a": [S.APPLYING, S.WAITING_READY, S.SUCCEEDED], "b": [S.CANCELLED]}
    )
    done = await resumed(place, deployment)
    assert done.status is D.CANCELLED
    assert statuses(done) == {"a": S.SUCCEEDED, "b": S.CANCELLED}


FAILS_FIRST = config("""
    app: ff
    services:
      a: {image: "a:pullfail", ports: [80], ready: {tcp: 80}}
      b: {image: "b:1", ports: [80], ready: {tcp: 80}}
    """)


async def test_a_step_waiting_for_a_slot_does_not_start_after_a_failure(place: Place) -> None:
    deployment = await place.deployment(FAILS_FIRST)
    executor = place.executor(per_instance=1)
    try:
        await executor.start(deployment)
        assert await asyncio.wait_for(executor.wait(deployment.id), 60) is D.FAILED
    finally:
        await executor.close()
    events = await place.store.deployments.events(deployment.id)
    steps = [(e.data["step"], e.data["status"]) for e in events if e.type == "step"]
    assert ("b", "applying") not in steps
    assert statuses(await place.reread(deployment)) == {"a": S.FAILED, "b": S.SKIPPED}
