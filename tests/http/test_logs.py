"""Container logs through the API, read live from the (simulated) cluster: a step's, a
service's, followed until the container ends; 404 for what the deployment does not have, 503
without a cluster."""

from __future__ import annotations

import pytest

from tests.http.stories import person_with_environment, send_blog, wait_for
from tests.http.worlds import World

pytestmark = pytest.mark.anyio

APP = b"""
runway: 1
app: hello
services:
  web:
    image: ghcr.io/example/hello:1.0.0
    ports: [8080]
    ready: { http: /, port: 8080 }
  seed:
    kind: job
    image: ghcr.io/example/seed:1.0.0
"""
SEED_LINE = "simulated run of ghcr.io/example/seed:1.0.0 completed"


async def _deployed(world: World):
    bob = await person_with_environment(world)
    hello = await send_blog(bob, config=APP)
    assert (await bob.post(f"/api/v1/deployments/{hello['id']}/start")).status_code == 200
    await wait_for(bob, hello["id"], "succeeded")
    return bob, hello


async def test_a_steps_and_a_services_logs_are_read_from_the_cluster(cluster_world: World):
    bob, hello = await _deployed(cluster_world)
    step = await bob.get(f"/api/v1/deployments/{hello['id']}/steps/seed/logs")
    assert step.status_code == 200, step.text
    assert step.headers["content-type"].startswith("text/plain")
    assert step.text.splitlines() == [SEED_LINE]
    followed = await bob.get(f"/api/v1/deployments/{hello['id']}/steps/seed/logs?follow=1")
    assert followed.status_code == 200, followed.text
    assert SEED_LINE in followed.text.splitlines()  # and it ended with the container
    service = await bob.get("/api/v1/environments/staging/apps/hello/services/web/logs")
    assert service.status_code == 200, service.text
    head = await bob.head("/api/v1/environments/staging/apps/hello/services/web/logs?follow=1")
    assert head.status_code == 200  # at once: a HEAD follows nothing
    job = await bob.get("/api/v1/environments/staging/apps/hello/services/seed/logs?tail=5")
    assert job.status_code == 200, job.text
    assert job.text.splitlines() == [SEED_LINE]
    # A newer deployment only created has nothing in the cluster: the one that ran answers.
    await send_blog(bob, config=APP)
    again = await bob.get("/api/v1/environments/staging/apps/hello/services/seed/logs?tail=5")
    assert again.status_code == 200, again.text
    assert again.text.splitlines() == [SEED_LINE]


async def test_logs_of_what_is_not_there_are_not_found(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    hello = await send_blog(bob, config=APP)
    for path in (
        f"/api/v1/deployments/{hello['id']}/steps/nope/logs",
        "/api/v1/environments/staging/apps/hello/services/nope/logs",
        "/api/v1/environments/staging/apps/nope/services/web/logs",
        # Known, but not deployed yet: nothing of it is in the cluster.
        f"/api/v1/deployments/{hello['id']}/steps/web/logs",
    ):
        answer = await bob.get(path)
        assert answer.status_code == 404, (path, answer.text)
    odd = await bob.get(f"/api/v1/deployments/{hello['id']}/steps/web/logs?tail=many")
    assert odd.status_code == 422


async def test_logs_without_a_cluster_are_a_503(world: World):
    bob = await person_with_environment(world)
    hello = await send_blog(bob, config=APP)
    answer = await bob.get(f"/api/v1/deployments/{hello['id']}/steps/web/logs")
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "cluster_unavailable"
