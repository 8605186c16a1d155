"""Restore points on the simulated cluster: a deployment that changes what uses a volume backs
the volume up before any step runs (a snapshot, or a copy where the driver has no snapshots);
an unchanged redeploy backs up nothing; old restore points are pruned past the retention."""

from __future__ import annotations

import pytest

from runway.store import DeploymentStatus
from tests.rollback.conftest import Rig, db_and_web

pytestmark = pytest.mark.anyio

D = DeploymentStatus
CLAIM = "notes-db-data"


async def test_a_change_to_what_mounts_a_volume_backs_it_up_first(rig: Rig) -> None:
    first = await rig.run(db_and_web())
    assert first.status is D.SUCCEEDED
    point = await rig.place.store.restore_points.of_deployment(first.id)
    assert point is not None and point.volumes == ()  # nothing existed to back up
    await rig.write(CLAIM, "marker", b"v1", uid=999)

    second = await rig.run(db_and_web(schema="2"))
    assert second.status is D.SUCCEEDED
    point = await rig.place.store.restore_points.of_deployment(second.id)
    assert point is not None
    [backup] = point.volumes
    expected = "copy" if rig.settings.storage_class else "snapshot"
    assert (backup.claim, backup.method) == (CLAIM, expected)
    assert backup.name == f"{CLAIM}-rp{second.number}"
    if backup.method == "copy":
        assert await rig.read(backup.name, "marker") == b"v1"
        assert await rig.owner(backup.name, "marker") == 999  # owners preserved
        assert backup.replicas == 1
        workload = await rig.place.world.cluster.get(
            f"/apis/apps/v1/namespaces/{rig.namespace}/deployments/notes-db"
        )
        assert workload is not None and workload["spec"]["replicas"] == 1  # scaled back
    else:
        snapshot = await rig.place.world.cluster.get(
            f"/apis/snapshot.storage.k8s.io/v1/namespaces/{rig.namespace}"
            f"/volumesnapshots/{backup.name}"
        )
        assert snapshot is not None and snapshot["status"]["readyToUse"]
    events = await rig.place.store.deployments.events(second.id)
    said = [e for e in events if e.type == "restore_point"]
    assert len(said) == 1 and CLAIM in said[0].data["reason"]
    # Before any step: the restore point's event comes before the first step's.
    first_step = next(e.id for e in events if e.type == "step")
    assert said[0].id < first_step


async def test_an_unchanged_redeploy_takes_no_backup(rig: Rig) -> None:
    await rig.run(db_and_web())
    await rig.write(CLAIM, "marker", b"v1")
    again = await rig.run(db_and_web())
    assert again.status is D.SUCCEEDED
    point = await rig.place.store.restore_points.of_deployment(again.id)
    assert point is not None and point.volumes == ()
    changed_web = await rig.run(db_and_web(web="web:2"))  # web mounts no volume
    point = await rig.place.store.restore_points.of_deployment(changed_web.id)
    assert point is not None and point.volumes == ()


async def test_restore_points_past_the_retention_are_pruned(rig: Rig) -> None:
    store = rig.place.store
    await store.restore_points.set_kept(rig.place.environment.id, 1)
    await rig.run(db_and_web())
    second = await rig.run(db_and_web(schema="2"))
    third = await rig.run(db_and_web(schema="3"))
    points = {
        p.number: p for p in await store.restore_points.of_app(rig.place.environment.id, "notes")
    }
    assert points[second.number].pruned_at is not None
    assert points[third.number].pruned_at is None
    cluster, namespace = rig.place.world.cluster, rig.namespace
    for point, present in ((points[second.number], False), (points[third.number], True)):
        [backup] = point.volumes
        path = (
            f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{backup.name}"
            if backup.method == "copy"
            else f"/apis/snapshot.storage.k8s.io/v1/namespaces/{namespace}"
            f"/volumesnapshots/{backup.name}"
        )
        found = await cluster.get(path)
        kept = found is not None and not found["metadata"].get("deletionTimestamp")
        assert kept is present, (backup.name, found)


async def test_a_backup_the_cluster_refuses_fails_the_start_before_anything_changed(
    rig: Rig,
) -> None:
    await rig.run(db_and_web())
    refused = (
        f"/api/v1/namespaces/{rig.namespace}/persistentvolumeclaims"
        if rig.settings.storage_class
        else f"/apis/snapshot.storage.k8s.io/v1/namespaces/{rig.namespace}/volumesnapshots"
    )
    await rig.place.world.inject(
        kind="status",
        status=403,
        method="POST",
        path=refused,
        message="exceeded quota: requests.storage",
    )
    second = await rig.run(db_and_web(schema="2"))
    assert second.status is D.FAILED
    assert second.reason is not None
    assert second.reason.startswith("the restore point could not be taken")
    assert "exceeded quota" in second.reason
    assert {step.status.value for step in second.steps} == {"skipped"}
    db = await rig.place.world.cluster.get(
        f"/apis/apps/v1/namespaces/{rig.namespace}/deployments/notes-db"
    )
    assert db is not None
    assert db["spec"]["replicas"] == 1
    env = db["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SCHEMA", "value": "1"} in env  # v1's, untouched
    assert await rig.place.store.restore_points.of_deployment(second.id) is None
