"""An automatic rollback survives its instance: when the instance stops between a failure and
creating the rollback, or between creating it and starting it, the next instance to resume
does it; two instances resuming at once make one rollback, and a later look makes none."""

from __future__ import annotations

import asyncio

import pytest

from runway.deploy import RenderSettings
from runway.executor import executor as executor_module
from runway.executor.rollback import after_failure
from runway.store import Deployment, DeploymentStatus, OnFailure
from tests.executor.conftest import Place
from tests.rollback.conftest import Rig, db_and_web
from tests.rollback.test_restore_points import CLAIM

pytestmark = pytest.mark.anyio

D = DeploymentStatus


@pytest.fixture
async def rig(place: Place) -> Rig:
    """Snapshots only: how the rollback is made is tests/rollback/test_rollback_api.py's."""
    await place.store.environments.update(place.environment.id, on_failure=OnFailure.ROLLBACK)
    return Rig(place, RenderSettings())


async def _failed_without_its_rollback(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """v1 succeeded (a marker in its volume), v2 failed, and its instance stopped before the
    automatic rollback (as if killed right after storing the failure)."""
    assert (await rig.run(db_and_web())).status is D.SUCCEEDED
    await rig.write(CLAIM, "marker", b"v1")

    async def stopped_before(*args: object, **kwargs: object) -> None:
        return None

    with monkeypatch.context() as patched:
        patched.setattr(executor_module, "after_failure", stopped_before)
        failed = await rig.run(db_and_web(schema="2", web="web:pullfail"))
    assert failed.status is D.FAILED
    return failed


async def _rollbacks(rig: Rig, failed: Deployment) -> list[Deployment]:
    listed, _ = await rig.place.store.deployments.list(
        rig.place.environment.id, limit=50, cursor=None
    )
    return [d for d in listed if d.rollback_of == failed.id]


async def _ended(rig: Rig, deployment: Deployment) -> Deployment:
    for _ in range(600):
        found = await rig.place.reread(deployment)
        if found.status not in (D.CREATED, D.RUNNING, D.WAITING_FOR_INPUT):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"deployment {deployment.id} still {found.status}")


async def test_the_next_instance_rolls_back_a_failure_its_instance_left(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = await _failed_without_its_rollback(rig, monkeypatch)
    assert await _rollbacks(rig, failed) == []
    first, second = rig.executor(), rig.executor()
    try:
        await asyncio.gather(first.resume(), second.resume())  # two instances at once
        [rollback] = await _rollbacks(rig, failed)
        assert (await _ended(rig, rollback)).status is D.SUCCEEDED
        assert await rig.read(CLAIM, "marker") == b"v1"
        await first.resume()  # looking again: it is done
        assert len(await _rollbacks(rig, failed)) == 1
    finally:
        await asyncio.gather(first.close(), second.close())
    said = [e for e in await rig.place.store.deployments.events(failed.id) if e.type == "rollback"]
    assert [e.data["status"] for e in said] == ["created"]


async def test_a_rollback_created_but_not_started_is_started(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = await _failed_without_its_rollback(rig, monkeypatch)
    place = rig.place
    made = await after_failure(
        place.store, place.world.cluster, place.environment, failed, failed.finished_at
    )  # and then the instance stopped
    assert made is not None and made.status is D.CREATED
    executor = rig.executor()
    try:
        await executor.resume()
        assert (await _ended(rig, made)).status is D.SUCCEEDED
    finally:
        await executor.close()
    assert [d.id for d in await _rollbacks(rig, failed)] == [made.id]


async def test_a_failure_in_an_environment_that_leaves_it_to_people_is_left(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = await _failed_without_its_rollback(rig, monkeypatch)
    place = rig.place
    await place.store.environments.update(place.environment.id, on_failure=OnFailure.MANUAL)
    executor = rig.executor()
    try:
        await executor.resume()
    finally:
        await executor.close()
    assert await _rollbacks(rig, failed) == []
