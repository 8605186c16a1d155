"""The installation's VolumeSnapshotClass (`runway serve --snapshot-class`) is the one restore
points use for volumes of its driver, over that driver's default class."""

from __future__ import annotations

import pytest

from runway.deploy import RenderSettings
from runway.simcluster.volumes import DEFAULT_SNAPSHOT_CLASS, PROVISIONER
from runway.store import DeploymentStatus
from tests.executor.conftest import Place
from tests.rollback.conftest import Rig, db_and_web

pytestmark = pytest.mark.anyio

CLASSES = "/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses"
CHOSEN = "rw-test-chosen"


async def _a_second_class(place: Place) -> None:
    if await place.world.cluster.get(f"{CLASSES}/{CHOSEN}") is None:  # else an earlier test's
        body = {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": {"name": CHOSEN},
            "driver": PROVISIONER,
            "deletionPolicy": "Delete",
        }
        await place.world.cluster.request("POST", CLASSES, body=body)


@pytest.mark.parametrize("preferred", [None, CHOSEN])
async def test_restore_points_use_the_installations_snapshot_class(
    place: Place, preferred: str | None
) -> None:
    await _a_second_class(place)
    rig = Rig(place, RenderSettings(snapshot_class=preferred))
    assert (await rig.run(db_and_web())).status is DeploymentStatus.SUCCEEDED
    await rig.write("notes-db-data", "marker", b"v1")
    second = await rig.run(db_and_web(schema="2"))
    assert second.status is DeploymentStatus.SUCCEEDED
    point = await place.store.restore_points.of_deployment(second.id)
    assert point is not None
    [backup] = point.volumes
    assert backup.method == "snapshot"
    assert backup.snapshot_class == (preferred or DEFAULT_SNAPSHOT_CLASS)
