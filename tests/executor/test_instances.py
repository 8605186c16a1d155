"""Two executors on one database, as two runway instances: answers and cancels given to the one
that does not run a deployment reach the one that does (written, then signalled)."""

from __future__ import annotations

import asyncio

import pytest

from runway.store import Answer, DeploymentStatus, StepStatus
from tests.executor.conftest import Place
from tests.executor.test_run import SLOW, WAITING, statuses, until

pytestmark = pytest.mark.anyio

D = DeploymentStatus
S = StepStatus


async def test_answers_given_to_another_instance_reach_the_owner(place: Place) -> None:
    deployment = await place.deployment(WAITING)
    # Answers are read again every 60 s without a signal: only the signal can wake it in time.
    owner, other = place.executor(answers_recheck=60), place.executor()
    try:
        await owner.start(deployment)
        await until(place, deployment, lambda d: statuses(d)["asks"] is S.WAITING_FOR_INPUT)
        await other.resume()  # the other instance listens too, and runs nothing
        assert not other.running(deployment.id)
        await place.store.deployments.put_answers(
            deployment.id, [Answer(input="greeting", source="answer", value="hello")]
        )
        await other.answered(deployment.id)
        assert await asyncio.wait_for(owner.wait(deployment.id), 4) is D.SUCCEEDED
    finally:
        await owner.close()
        await other.close()


async def test_a_cancel_given_to_another_instance_is_written_then_done_by_the_owner(
    place: Place,
) -> None:
    await place.world.behave(slow_delay=120.0)
    deployment = await place.deployment(SLOW)
    owner, other = place.executor(), place.executor()
    try:
        await owner.start(deployment)
        running = await until(place, deployment, lambda d: statuses(d)["first"] is S.WAITING_READY)
        await other.resume()
        await asyncio.wait_for(other.cancel(running), 20)
        done = await place.reread(deployment)
        assert done.status is D.CANCELLED
        assert done.cancel_requested_at is not None
        assert statuses(done) == {"first": S.CANCELLED, "second": S.CANCELLED}
        assert not other.running(deployment.id)  # the owner did it
    finally:
        await owner.close()
        await other.close()


async def test_a_cancel_of_a_deployment_read_before_it_started_cancels_the_run(
    place: Place,
) -> None:
    await place.world.behave(slow_delay=120.0)
    deployment = await place.deployment(SLOW)  # read as `created`
    executor = place.executor()
    try:
        await executor.start(deployment)
        await until(place, deployment, lambda d: statuses(d)["first"] is S.WAITING_READY)
        await asyncio.wait_for(executor.cancel(deployment), 20)  # the stale, `created` copy
    finally:
        await executor.close()
    done = await place.reread(deployment)
    assert done.status is D.CANCELLED
    assert statuses(done) == {"first": S.CANCELLED, "second": S.CANCELLED}
