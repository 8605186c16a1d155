"""Deleting an environment deletes its namespace in the cluster (its workloads and Secrets go
with it), refuses while a deployment of it is active, and keeps the environment when the
cluster does not answer. (Without any cluster configured, only runway's records go:
tests/http/test_hosts.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runway.simcluster.catalogue import NAMESPACES
from tests.http.stories import person_with_environment, send_blog, wait_for
from tests.http.worlds import World

pytestmark = pytest.mark.anyio


def namespace_in(world: World, name: str) -> dict[str, Any] | None:
    found = world.sim.store.get(NAMESPACES.key, "", name)
    return None if found is None else dict(found)


async def test_deleting_an_environment_deletes_its_namespace(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    namespace = (await bob.get("/api/v1/environments/staging")).json()["namespace"]
    assert namespace_in(cluster_world, namespace) is not None, "prepared at create"
    assert (await bob.delete("/api/v1/environments/staging")).status_code == 204
    for _ in range(100):
        left = namespace_in(cluster_world, namespace)
        if left is None or left["metadata"].get("deletionTimestamp"):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"namespace {namespace} is still there: {left}")
    assert (await bob.get("/api/v1/environments/staging")).status_code == 404


async def test_an_environment_with_an_active_deployment_is_kept(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    blog = await send_blog(bob)
    assert (await bob.post(f"/api/v1/deployments/{blog['id']}/start")).status_code == 200
    await wait_for(bob, blog["id"], "waiting_for_input")
    newer = await send_blog(bob)  # the app's latest is only created: the older one runs
    assert newer["number"] == 2
    refused = await bob.delete("/api/v1/environments/staging")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["details"] == [
        {"active_deployment": {"id": blog["id"], "number": 1, "app": "blog"}}
    ]
    assert (await bob.get("/api/v1/environments/staging")).status_code == 200


async def test_a_cluster_that_does_not_answer_keeps_the_environment(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    await cluster_world.sim.stop()
    refused = await bob.delete("/api/v1/environments/staging")
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "cluster_unavailable"
    assert (await bob.get("/api/v1/environments/staging")).status_code == 200
