"""Rolling back through the API, on the simulated cluster with its test-only volume contents,
once with snapshots and once with copies: v1 of an app with a database volume holds a marker;
v2 changes the database's settings (its start backs the volume up), writes another marker, and
its web image fails. The dry run names the image change, the changed values (a secret one only
as changed) and the data to be lost; nothing happens without the confirmation; with it the
marker is v1's again, v1's image runs, and a restore point of v2's state exists. A rollback
with no earlier success is refused with its reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runway.simcluster import SimCluster
from runway.simcluster.volumes import File
from tests.http.conftest import anyio_backend  # noqa: F401
from tests.http.stories import person_with_environment, wait_for
from tests.http.worlds import World
from tests.rollback.conftest import a_server_on, config, deploy

pytestmark = pytest.mark.anyio

CLAIM = "notes-db-data"


def notes(schema: str, web: str) -> bytes:
    return config(f"""
        app: notes
        inputs:
          title: {{prompt: Title, default: Notes}}
          db_password: {{prompt: Database password, type: secret, generate: 16}}
        services:
          db:
            image: "postgres:16"
            env: {{SCHEMA: "{schema}", PASSWORD: "${{{{ inputs.db_password }}}}"}}
            ports: [5432]
            ready: {{tcp: 5432}}
            volumes: {{data: {{mount: /var/lib/db, size: 1Gi}}}}
          web:
            image: "{web}"
            env: {{TITLE: "${{{{ inputs.title }}}}"}}
            ports: [80]
            ready: {{tcp: 80}}
            depends_on: [db]
        """).encode()


@pytest.fixture
async def simulated() -> AsyncIterator[SimCluster]:
    """The simulated cluster in this process, its containers ready at once."""
    cluster = SimCluster(namespace_delay=0.0)
    cluster.behaviour.ready_delay = 0.0
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture(params=["snapshots", "copies"])
async def rollback_world(
    request: pytest.FixtureRequest, simulated: SimCluster, tmp_path: Path
) -> AsyncIterator[World]:
    async with a_server_on(simulated, tmp_path, request.param) as world:
        yield world


def volume_of(sim: SimCluster, claim: str) -> str:
    [found] = [
        c for c in sim.store.items("/persistentvolumeclaims") if c["metadata"]["name"] == claim
    ]
    return str(found["spec"]["volumeName"])


def marker(sim: SimCluster, claim: str = CLAIM) -> bytes | None:
    found = sim.volumes.read(volume_of(sim, claim), "marker")
    return None if found is None else found.data


async def test_a_confirmed_rollback_puts_back_the_data_and_the_version(
    rollback_world: World,
) -> None:
    sim = rollback_world.sim
    bob = await person_with_environment(rollback_world)
    v1 = await deploy(bob, notes("1", "web:1"), {"db_password": {"generate": True}}, "succeeded")
    sim.volumes.write(volume_of(sim, CLAIM), "marker", File(b"v1", uid=70))
    v2 = await deploy(
        bob,
        notes("2", "web:pullfail"),
        {"title": "Second", "db_password": {"generate": True}},
        "failed",
    )
    sim.volumes.write(volume_of(sim, CLAIM), "marker", File(b"v2", uid=70))  # v2's migration

    rollback = f"/api/v1/deployments/{v2['id']}/rollback"
    dry = await bob.post(rollback)
    assert dry.status_code == 200, dry.text
    said = dry.json()
    assert said["goes_back_to"]["number"] == v1["number"]
    changes = {(c["service"], c["field"]): (c["from"], c["to"]) for c in said["changes"]}
    assert changes[("web", "image")] == ("web:pullfail", "web:1")
    assert changes[("db", "env.SCHEMA")] == ("2", "1")
    values = {v["input"]: v for v in said["values"]}
    assert values["title"] == {"input": "title", "from": "Second", "to": "Notes"}
    assert values["db_password"] == {"input": "db_password", "secret": True, "changed": True}
    [volume] = said["volumes"]
    assert (volume["claim"], volume["restore_point_of"]) == (CLAIM, v2["number"])
    assert len(said["data_lost"]) == 1 and CLAIM in said["data_lost"][0]
    assert [s["step"] for s in said["steps"]] == ["backup", "restore", "db", "web"]
    # Nothing happened: no new deployment, the data as it was.
    listed = (await bob.get("/api/v1/environments/staging/deployments")).json()["items"]
    assert len(listed) == 2 and marker(sim) == b"v2"

    wrong = await bob.post(rollback, json={"confirm": "production"})
    assert wrong.status_code == 422 and "staging" in wrong.json()["error"]["message"]
    assert marker(sim) == b"v2"

    done = await bob.post(rollback, json={"confirm": "staging"})
    assert done.status_code == 201, done.text
    assert done.json()["rollback_of"] == v2["id"]
    kinds = {s["name"]: s["kind"] for s in done.json()["steps"]}
    assert kinds == {"backup": "backup", "restore": "restore", "db": "service", "web": "service"}
    finished = await wait_for(bob, done.json()["id"], "succeeded")
    assert {s["name"]: s["status"] for s in finished["steps"]} == dict.fromkeys(kinds, "succeeded")
    assert marker(sim) == b"v1"
    assert sim.volumes.read(volume_of(sim, CLAIM), "marker").uid == 70  # owners kept
    [web] = [d for d in sim.store.items("apps/deployments") if d["metadata"]["name"] == "notes-web"]
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    assert web["spec"]["replicas"] == 1
    # The rollback's own restore point holds v2's state, so it can itself be undone.
    point = await rollback_world.store.restore_points.of_deployment(finished["id"])
    assert point is not None
    [backup] = point.volumes
    if backup.method == "copy":
        assert sim.volumes.read(volume_of(sim, backup.name), "marker").data == b"v2"
    else:
        [snapshot] = [
            s
            for s in sim.store.items("snapshot.storage.k8s.io/volumesnapshots")
            if s["metadata"]["name"] == backup.name
        ]
        content = snapshot["status"]["boundVolumeSnapshotContentName"]
        assert sim.volumes.snapshot_files(content)["marker"].data == b"v2"


async def test_a_rollback_with_no_earlier_success_is_refused(rollback_world: World) -> None:
    bob = await person_with_environment(rollback_world)
    failed = await deploy(
        bob, notes("1", "web:pullfail"), {"db_password": {"generate": True}}, "failed"
    )
    for body in (None, {"confirm": "staging"}):
        refused = await bob.post(f"/api/v1/deployments/{failed['id']}/rollback", json=body)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "rollback_refused"
        assert "no deployment of notes succeeded before" in error["message"]
    listed = (await bob.get("/api/v1/environments/staging/deployments")).json()["items"]
    assert len(listed) == 1


async def test_an_environment_set_to_roll_back_does_it_itself_after_a_failure(
    rollback_world: World,
) -> None:
    sim = rollback_world.sim
    bob = await person_with_environment(rollback_world)
    setting = await bob.patch("/api/v1/environments/staging", json={"on_failure": "rollback"})
    assert setting.status_code == 200, setting.text
    v1 = await deploy(bob, notes("1", "web:1"), {"db_password": {"generate": True}}, "succeeded")
    sim.volumes.write(volume_of(sim, CLAIM), "marker", File(b"v1"))
    v2 = await deploy(bob, notes("2", "web:pullfail"), {}, "failed")
    listed = []
    for _ in range(200):
        listed = (await bob.get("/api/v1/environments/staging/deployments")).json()["items"]
        if len(listed) == 3:
            break
        await asyncio.sleep(0.05)
    rollback = listed[0]
    assert rollback["rollback_of"] == v2["id"], listed
    done = await wait_for(bob, rollback["id"], "succeeded")
    assert {s["kind"] for s in done["steps"]} >= {"backup", "restore"}
    assert marker(sim) == b"v1"
    events = (await rollback_world.store.deployments.events(v2["id"]))[-1]
    assert events.type == "rollback" and f"#{v1['number']}" in events.data["reason"]
