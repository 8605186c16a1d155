"""Leases by the database's clock, and writes fenced by them, on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runway.store import DeploymentStatus, StepStatus, Store
from runway.store.leases import Lease, LeaseLost
from runway.store.transitions import StepChange
from tests.store.store_worlds import NOW, a_deployment, a_user, an_environment

pytestmark = pytest.mark.anyio

D = DeploymentStatus
S = StepStatus
LATER = NOW + timedelta(seconds=1)


async def running(store: Store, app: str = "blog") -> int:
    ann = await a_user(store, f"user-{app}")
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann, app=app)
    await store.transitions.start(deployment.id, now=NOW)
    return deployment.id


async def test_a_lease_is_taken_once_until_it_lapses_then_with_the_next_epoch(
    store: Store,
) -> None:
    deployment = await running(store)
    mine = await store.leases.take(deployment, "a", ttl=0.5)
    assert mine == Lease(deployment, "a", 1)
    assert await store.leases.take(deployment, "b", ttl=0.5) is None
    assert await store.leases.current(deployment) == mine
    await asyncio.sleep(0.7)
    assert await store.leases.current(deployment) is None
    theirs = await store.leases.take(deployment, "b", ttl=5)
    assert theirs == Lease(deployment, "b", 2)
    assert not await store.leases.renew(mine, ttl=5)  # lost: renewing cannot bring it back
    assert await store.leases.renew(theirs, ttl=5)


async def test_a_released_lease_is_free_at_once_and_epochs_keep_growing(store: Store) -> None:
    deployment = await running(store)
    first = await store.leases.take(deployment, "a", ttl=60)
    assert first is not None
    await store.leases.release(first)
    assert await store.leases.current(deployment) is None
    second = await store.leases.take(deployment, "b", ttl=60)
    assert second == Lease(deployment, "b", 2)
    await store.leases.release(first)  # no longer this lease: nothing happens
    assert await store.leases.current(deployment) == second


async def test_free_leases_of_active_deployments_are_shared_out(store: Store) -> None:
    ids = [await running(store, app) for app in ("one", "two", "three")]
    held = await store.leases.take(ids[1], "c", ttl=60)
    assert held is not None
    taken_a = await store.leases.take_free("a", ttl=60, limit=1)
    taken_b = await store.leases.take_free("b", ttl=60, limit=5)
    assert [lease.deployment_id for lease in taken_a] == [ids[0]]
    assert [lease.deployment_id for lease in taken_b] == [ids[2]]
    assert await store.leases.take_free("d", ttl=60, limit=5) == []


async def test_a_write_with_a_lost_lease_is_refused_and_changes_nothing(store: Store) -> None:
    deployment = await running(store)
    old = await store.leases.take(deployment, "a", ttl=0.3)
    assert old is not None
    await store.transitions.steps(
        deployment, [StepChange("db", S.APPLYING, (S.PENDING,))], now=LATER, lease=old
    )
    await asyncio.sleep(0.5)
    new = await store.leases.take(deployment, "b", ttl=60)
    assert new is not None
    with pytest.raises(LeaseLost):
        await store.transitions.steps(
            deployment, [StepChange("db", S.WAITING_READY, (S.APPLYING,))], now=LATER, lease=old
        )
    with pytest.raises(LeaseLost):
        await store.transitions.deployment(
            deployment, D.FAILED, allowed_from=(D.RUNNING,), now=LATER, lease=old
        )
    stored = await store.deployments.get(deployment)
    assert stored is not None
    assert (stored.status, stored.steps[0].status) == (D.RUNNING, S.APPLYING)
    await store.transitions.steps(
        deployment, [StepChange("db", S.WAITING_READY, (S.APPLYING,))], now=LATER, lease=new
    )
    events = await store.deployments.events(deployment)
    assert [event.id for event in events] == [1, 2, 3, 4]
