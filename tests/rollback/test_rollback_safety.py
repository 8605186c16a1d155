"""Rollbacks that must not lose the app's data, on the simulated cluster (snapshots on SQLite
only, or copies where that is what the case is about, to stay quick): a cancel in the middle
of a restore still makes the deleted volume again before the rollback ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from runway.deploy.backup import SNAPSHOT, restore, stop_app
from runway.deploy.volume_ops import COPY_LABEL, BackupFailed, run_copy
from runway.executor.rollback import create, dry_run, prepare
from runway.store import Deployment, DeploymentStatus
from tests.rollback.conftest import Rig, config, db_and_web

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]
SNAPSHOTS = pytest.mark.parametrize("rig", ["snapshots"], indirect=True)

D = DeploymentStatus
CLAIM = "notes-db-data"


def holder(namespace: str, name: str, claim: str, pod_labels: dict[str, str]) -> dict[str, Any]:
    """A pod mounting `claim` that nothing stops."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": pod_labels},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:1.36",
                    "volumeMounts": [{"name": "d", "mountPath": "/d"}],
                }
            ],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


async def _rollback_of(rig: Rig, undone: Deployment) -> Deployment:
    store = rig.place.store
    prepared = await prepare(store, rig.place.world.cluster, rig.place.environment, undone)
    user = await store.users.get(undone.created_by)
    assert user is not None
    return await create(store, prepared, user, datetime.now(UTC))


async def _rolled_back(rig: Rig, undone: Deployment) -> Deployment:
    """The rollback of `undone`, run to its end: it succeeded."""
    done = await rig.run_created(await _rollback_of(rig, undone))
    assert done.status is D.SUCCEEDED, done.reason
    return done


async def _failed_after_v1(
    rig: Rig,
    first: str = db_and_web(),
    second: str = db_and_web(schema="2", web="web:pullfail"),
) -> Deployment:
    """`first` deployed (its volume marked `v1`), then `second` failed; the failed one."""
    assert (await rig.run(first)).status is D.SUCCEEDED
    await rig.write(CLAIM, "marker", b"v1")
    failed = await rig.run(second)
    assert failed.status is D.FAILED
    return failed


@SNAPSHOTS
async def test_a_cancel_during_a_restore_still_makes_the_volume_again(rig: Rig) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    failed = await _failed_after_v1(rig)
    # A pod outside the app mounts the claim, so its deletion waits (pvc-protection): the
    # cancel comes between the claim's deletion and its making again.
    await cluster.request(
        "POST", f"/api/v1/namespaces/{ns}/pods", body=holder(ns, "holder", CLAIM, {})
    )
    rollback = await _rollback_of(rig, failed)
    claim_path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{CLAIM}"
    executor = rig.executor()
    try:
        await executor.start(rollback)
        for _ in range(400):
            claim = await cluster.get(claim_path)
            if claim is not None and claim["metadata"].get("deletionTimestamp"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the restore never deleted the claim")
        cancelling = asyncio.create_task(executor.cancel(await rig.place.reread(rollback)))
        await asyncio.sleep(0.5)
        assert not cancelling.done()  # the claim's restore goes on to its end first
        await cluster.request("DELETE", f"/api/v1/namespaces/{ns}/pods/holder")
        await asyncio.wait_for(cancelling, 30)
    finally:
        await executor.close()
    assert (await rig.place.reread(rollback)).status is D.CANCELLED
    claim = await cluster.get(claim_path)
    assert claim is not None and not claim["metadata"].get("deletionTimestamp")
    # Made from v1's snapshot: the next deployment's pods find v1's data in it.
    assert (await rig.run(db_and_web())).status is D.SUCCEEDED
    assert await rig.read(CLAIM, "marker") == b"v1"


@SNAPSHOTS
async def test_the_restore_point_a_rollback_needs_is_kept_past_the_retention(rig: Rig) -> None:
    store = rig.place.store
    await store.restore_points.set_kept(rig.place.environment.id, 1)
    assert (await rig.run(db_and_web())).status is D.SUCCEEDED
    await rig.write(CLAIM, "marker", b"v1")
    # Two failures in a row: the second one's start prunes past the retention of one, but
    # the first one's restore point holds the volume as v1 left it.
    assert (await rig.run(db_and_web(schema="2", web="web:pullfail"))).status is D.FAILED
    await rig.write(CLAIM, "marker", b"v2")
    failed = await rig.run(db_and_web(schema="3", web="web:pullfail"))
    assert failed.status is D.FAILED
    await rig.write(CLAIM, "marker", b"v3")
    await _rolled_back(rig, failed)
    assert await rig.read(CLAIM, "marker") == b"v1"


def with_job(schema: str, job_image: str) -> str:
    return config(f"""
        app: notes
        services:
          db:
            image: "postgres:16"
            env: {{SCHEMA: "{schema}"}}
            ports: [5432]
            ready: {{tcp: 5432}}
            volumes: {{data: {{mount: /var/lib/db, size: 1Gi}}}}
          migrate: {{kind: job, image: "{job_image}", depends_on: [db]}}
          web: {{image: "web:1", ports: [80], ready: {{tcp: 80}}, depends_on: [migrate]}}
        """)


@SNAPSHOTS
async def test_a_stuck_job_pod_of_the_failed_deployment_does_not_block_the_restore(
    rig: Rig,
) -> None:
    # The failed deployment's Job pod never starts.
    failed = await _failed_after_v1(
        rig, with_job("1", "migrate:1"), with_job("2", "migrate:pullfail")
    )
    await rig.write(CLAIM, "marker", b"v2")  # what the failed version wrote: undone
    await _rolled_back(rig, failed)
    assert await rig.read(CLAIM, "marker") == b"v1"


@SNAPSHOTS
async def test_pods_that_do_not_stop_leave_the_app_running(rig: Rig) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    assert (await rig.run(db_and_web())).status is D.SUCCEEDED
    stray = holder(ns, "stray", CLAIM, {"app.kubernetes.io/instance": "notes"})
    await cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", body=stray)
    with pytest.raises(BackupFailed, match="the app was started again"):
        await stop_app(cluster, ns, "notes", timeout=0.5)
    for service in ("db", "web"):
        found = await cluster.get(f"/apis/apps/v1/namespaces/{ns}/deployments/notes-{service}")
        assert found is not None and found["spec"]["replicas"] == 1


@SNAPSHOTS
async def test_a_claim_never_bound_is_not_backed_up(rig: Rig) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    # As a first deployment whose pod could never be scheduled leaves it: the claim exists,
    # waiting for its first consumer, never bound, so a snapshot of it never becomes ready.
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": CLAIM,
            "namespace": ns,
            "labels": {"runway.dev/app": "notes", "app.kubernetes.io/managed-by": "runway"},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await cluster.request("POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", body=claim)
    found = await cluster.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{CLAIM}")
    assert found is not None and found["status"]["phase"] == "Pending"
    deployed = await rig.run(db_and_web())
    assert deployed.status is D.SUCCEEDED, deployed.reason
    point = await rig.place.store.restore_points.of_deployment(deployed.id)
    assert point is not None and not point.volumes


def two_volumes(schema: str) -> str:
    return config(f"""
        app: notes
        services:
          db:
            image: "postgres:16"
            env: {{SCHEMA: "{schema}"}}
            ports: [5432]
            ready: {{tcp: 5432}}
            volumes:
              data: {{mount: /var/lib/db, size: 1Gi}}
              data-rp2: {{mount: /var/lib/other, size: 1Gi}}
        """)


@pytest.mark.parametrize("rig", ["copies"], indirect=True)
async def test_a_live_volume_named_like_a_backup_is_never_written_over(rig: Rig) -> None:
    assert (await rig.run(two_volumes("1"))).status is D.SUCCEEDED
    await rig.write(CLAIM, "marker", b"main")
    await rig.write(f"{CLAIM}-rp2", "marker", b"the other volume")
    # Deployment #2 would back up notes-db-data as notes-db-data-rp2: the app's other volume.
    second = await rig.run(two_volumes("2"))
    assert second.status is D.FAILED
    assert "exists already and is not this backup" in (second.reason or "")
    assert await rig.place.store.restore_points.of_deployment(second.id) is None
    assert await rig.read(f"{CLAIM}-rp2", "marker") == b"the other volume"


@SNAPSHOTS
async def test_retrying_a_change_whose_backup_was_refused_backs_up(rig: Rig) -> None:
    store = rig.place.store
    assert (await rig.run(db_and_web())).status is D.SUCCEEDED
    await rig.place.world.inject(
        kind="status",
        status=403,
        method="POST",
        path=f"/apis/snapshot.storage.k8s.io/v1/namespaces/{rig.namespace}/volumesnapshots",
        count=1,
        message="exceeded quota: requests.storage",
    )
    refused = await rig.run(db_and_web(schema="2"))
    assert refused.status is D.FAILED
    retried = await rig.run(db_and_web(schema="2"))  # the same change, which never ran, again
    assert retried.status is D.SUCCEEDED
    point = await store.restore_points.of_deployment(retried.id)
    assert point is not None and [b.claim for b in point.volumes] == [CLAIM]
    prepared = await prepare(store, rig.place.world.cluster, rig.place.environment, retried)
    assert dry_run(prepared)["data_lost"]


@SNAPSHOTS
async def test_a_second_restore_from_the_same_snapshot_is_done_again(rig: Rig) -> None:
    first = await _rolled_back(rig, await _failed_after_v1(rig))
    await rig.write(CLAIM, "marker", b"written after the first rollback")
    # Undoing the rollback goes back to v1 again, from the same snapshot of v1's data: the
    # claim made from it by the first rollback holds what was written since, not v1's data.
    await _rolled_back(rig, first)
    assert await rig.read(CLAIM, "marker") == b"v1"


@SNAPSHOTS
async def test_a_claim_made_from_a_snapshot_is_as_big_as_the_snapshot(rig: Rig) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    assert (await rig.run(db_and_web())).status is D.SUCCEEDED
    failed = await rig.run(db_and_web(schema="2", web="web:pullfail"))
    point = await rig.place.store.restore_points.of_deployment(failed.id)
    assert point is not None
    (backup,) = point.volumes
    # The volume grew (expanded outside runway, say) before the snapshot was taken.
    await cluster.request(
        "PATCH",
        f"/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots/{backup.name}/status",
        body={"status": {"restoreSize": "3Gi"}},
        content_type="application/merge-patch+json",
    )
    await stop_app(cluster, ns, "notes", timeout=10)
    await restore(
        cluster,
        ns,
        "notes",
        claim=CLAIM,
        method=SNAPSHOT,
        name=backup.name,
        size=backup.size,
        storage_class=backup.storage_class,
        job="unused",
        rollback=99,
        timeout=10,
    )
    claim = await cluster.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{CLAIM}")
    assert claim is not None
    assert claim["spec"]["resources"]["requests"]["storage"] == "3Gi"


@SNAPSHOTS
async def test_a_copy_that_times_out_is_deleted_with_its_pods(rig: Rig) -> None:
    cluster, ns = rig.place.world.cluster, rig.namespace
    await rig.place.world.behave(image_delays={"busybox:1.36": 600.0})  # it never ends
    with pytest.raises(BackupFailed, match="not done after"):
        await run_copy(cluster, ns, "slow-copy", "notes", "one", "other", wipe=True, timeout=1.0)
    assert await cluster.get(f"/apis/batch/v1/namespaces/{ns}/jobs/slow-copy") is None
    pods = await cluster.request(
        "GET", f"/api/v1/namespaces/{ns}/pods", query=[("labelSelector", f"{COPY_LABEL}=true")]
    )
    assert pods.get("items") == []
