"""Restore points are written by the deployment's owner only while it holds its lease
(DESIGN.md: every write of a deployment's owner checks its lease epoch), on both backends."""

from __future__ import annotations

import pytest

from runway.store import Store
from runway.store.leases import LeaseLost
from runway.store.restore_points import VolumeBackup
from tests.store.store_worlds import NOW, a_deployment, a_user, an_environment

pytestmark = pytest.mark.anyio

BACKUP = VolumeBackup("db", "data", "blog-db-data", "copy", "blog-db-data-rp1", "1Gi")


async def test_a_stale_lease_cannot_record_nor_prune_a_restore_point(store: Store) -> None:
    ann = await a_user(store, "ann")
    environment = await an_environment(store, ann)
    deployment, _ = await a_deployment(store, environment, ann, app="blog")
    await store.transitions.start(deployment.id, now=NOW)
    stale = await store.leases.take(deployment.id, "a", ttl=60)
    assert stale is not None
    await store.leases.release(stale)
    fresh = await store.leases.take(deployment.id, "b", ttl=60)
    assert fresh is not None and fresh.epoch > stale.epoch

    args = (deployment.id, environment.id, "blog", deployment.number, [BACKUP], NOW)
    with pytest.raises(LeaseLost):
        await store.restore_points.record(*args, lease=stale)
    assert await store.restore_points.of_deployment(deployment.id) is None

    point = await store.restore_points.record(*args, lease=fresh)
    assert point.volumes == (BACKUP,)
    with pytest.raises(LeaseLost):
        await store.restore_points.mark_pruned(deployment.id, NOW, lease=stale)
    found = await store.restore_points.of_deployment(deployment.id)
    assert found is not None and found.pruned_at is None
    await store.restore_points.mark_pruned(deployment.id, NOW, lease=fresh)
    found = await store.restore_points.of_deployment(deployment.id)
    assert found is not None and found.pruned_at is not None
