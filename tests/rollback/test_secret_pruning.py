"""Secrets and restore points are pruned together (DESIGN.md; issue 12): once a deployment
succeeded, the Secrets of secret answers that only deployments past the retention refer to are
deleted, while those of the running deployment and of every deployment a rollback may still go
back to stay."""

from __future__ import annotations

import pytest

from runway.deploy.input_secrets import store_secret_input
from runway.executor import rollback
from runway.store import Answer, Deployment, DeploymentStatus
from tests.rollback.conftest import Rig, config

pytestmark = pytest.mark.anyio

NOTES = config("""
    app: notes
    inputs:
      db_password: {prompt: Database password, type: secret}
    services:
      db:
        image: "postgres:16"
        env: {PASSWORD: "${{ inputs.db_password }}"}
        ports: [5432]
        ready: {tcp: 5432}
        volumes: {data: {mount: /var/lib/db, size: 1Gi}}
    """)


NO_VOLUME = config("""
    app: notes
    inputs:
      db_password: {prompt: Database password, type: secret}
    services:
      web:
        image: "web:1"
        env: {PASSWORD: "${{ inputs.db_password }}"}
        ports: [80]
        ready: {tcp: 80}
    """)


async def _versions(rig: Rig, text: str, count: int) -> tuple[list[str], Deployment]:
    """Deploy `text` `count` times, each with a new version of the password (a Secret of its
    own); the Secrets' names, and the last deployment."""
    store, environment = rig.place.store, rig.place.environment
    cluster = rig.place.world.cluster
    names: list[str] = []
    last = None
    for version in range(1, count + 1):
        deployment = await rig.place.deployment(text)
        ref = await store_secret_input(
            cluster,
            rig.namespace,
            environment.name,
            "notes",
            "db_password",
            version,
            f"pw{version}",
        )
        answer = Answer("db_password", "answer", secret_name=ref.name, secret_key=ref.key)
        await store.deployments.put_answers(deployment.id, [answer])
        done = await rig.run_created(deployment)
        assert done.status is DeploymentStatus.SUCCEEDED, done.reason
        names.append(ref.name)
        last = done
    assert last is not None
    return names, last


async def _present(rig: Rig, name: str) -> bool:
    found = await rig.place.world.cluster.get(f"/api/v1/namespaces/{rig.namespace}/secrets/{name}")
    return found is not None and not found["metadata"].get("deletionTimestamp")


@pytest.mark.parametrize("rig", ["snapshots"], indirect=True)
async def test_secrets_only_pruned_restore_points_need_are_deleted(rig: Rig) -> None:
    store, environment = rig.place.store, rig.place.environment
    cluster = rig.place.world.cluster
    await store.restore_points.set_kept(environment.id, 1)
    names, last = await _versions(rig, NOTES, 4)

    points = {p.number: p for p in await store.restore_points.of_app(environment.id, "notes")}
    assert [n for n, p in sorted(points.items()) if p.pruned_at is None and p.volumes] == [4]

    # v1 and v2 can no longer be gone back to; v3 can (a rollback of v4 restores from v4's
    # restore point), and v4 runs.
    assert [await _present(rig, name) for name in names] == [False, False, True, True]

    # The rollback of v4 re-applies v3 with its own password, which is still there to read.
    prepared = await rollback.prepare(store, cluster, environment, last)
    undo = await rollback.create(store, prepared, rig.place.user, last.created_at)
    done = await rig.run_created(undo)
    assert done.status is DeploymentStatus.SUCCEEDED, done.reason
    assert await _present(rig, names[2])


@pytest.mark.parametrize("rig", ["snapshots"], indirect=True)
async def test_an_app_without_volumes_keeps_what_rolling_back_its_latest_needs(rig: Rig) -> None:
    """Its restore points back nothing up, so none is ever pruned: the retention still says
    which deployments a rollback may start from (the newest 2: v3 and v4), and the success
    before each (v2 for v3) stays usable."""
    await rig.place.store.restore_points.set_kept(rig.place.environment.id, 2)
    names, _ = await _versions(rig, NO_VOLUME, 4)
    assert [await _present(rig, name) for name in names] == [False, True, True, True]
