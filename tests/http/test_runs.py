"""Starting and cancelling deployments through the API, with the simulated cluster: the blog
deploys once its questions are answered, a redeploy asks nothing, and every change the state
table forbids is a 409 that says why."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from runway.http import create_app
from runway.store.records import DeploymentStatus
from tests.http.stories import (
    assert_conforms,
    person_with_environment,
    read_events,
    send_blog,
    wait_for,
)
from tests.http.worlds import PUBLIC_URL, World

pytestmark = pytest.mark.anyio

D = DeploymentStatus


async def deploy_the_blog(world: World, client: httpx.AsyncClient) -> dict:
    """The blog #1, answered in three moments: the e-mail and a generated password before
    start, the domain while it waits, the theme never (its default)."""
    blog = await send_blog(client)
    path = f"/api/v1/deployments/{blog['id']}"
    early = await client.post(
        f"{path}/inputs",
        json={"admin_email": "ops@example.org", "db_password": {"generate": True}},
    )
    assert early.status_code == 200, early.text
    started = await client.post(f"{path}/start")
    assert started.status_code == 200, started.text
    assert started.json()["status"] in ("running", "waiting_for_input")
    waiting = await wait_for(client, blog["id"], "waiting_for_input")
    steps = {s["name"]: s["status"] for s in waiting["steps"]}
    assert steps["web"] == "waiting_for_input", steps
    late = await client.post(f"{path}/inputs", json={"domain": "blog.example.org"})
    assert late.status_code == 200, late.text
    return await wait_for(client, blog["id"], "succeeded")


async def test_the_blog_deploys_once_its_questions_are_answered(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    done = await deploy_the_blog(cluster_world, bob)
    assert done["status"] == "succeeded"
    assert done["started_at"] and done["finished_at"]
    assert {s["name"]: s["status"] for s in done["steps"]} == dict.fromkeys(
        ("db", "migrate", "web", "worker"), "succeeded"
    )
    questions = {q["name"]: q for q in done["questions"]}
    assert {name: (q["answered"], q["source"]) for name, q in questions.items()} == {
        "domain": (True, "answer"),
        "admin_email": (True, "answer"),
        "db_password": (True, "answer"),
        "theme": (True, "default"),
    }
    assert questions["domain"]["value"] == "blog.example.org"
    assert questions["theme"]["value"] == "light"
    assert "value" not in questions["db_password"]

    events, _ = await read_events(bob, done["id"])
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "deployment" and events[-1].data["status"] == "succeeded"
    answered = [e.data["input"] for e in events if e.event == "answer"]
    assert sorted(answered) == ["admin_email", "db_password", "domain"]

    env = (await bob.get("/api/v1/environments/staging")).json()
    await assert_conforms(bob, "EnvironmentDetail", env)
    await assert_conforms(bob, "Deployment", done)
    (app,) = env["apps"]
    services = {s["name"]: s for s in app["services"]}
    assert services["web"]["status"] == "succeeded"
    assert services["web"]["urls"] == ["http://blog.example.org/"]
    assert services["db"]["urls"] == []
    assert [d["number"] for d in app["deployments"]] == [1]


async def test_a_redeploy_reuses_the_answers_and_asks_nothing(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    first = await deploy_the_blog(cluster_world, bob)
    second = await send_blog(bob)
    assert second["number"] == 2
    sources = {q["name"]: (q["answered"], q["source"]) for q in second["questions"]}
    assert sources == {
        "domain": (True, "reused"),
        "admin_email": (True, "reused"),
        "db_password": (True, "reused"),
        "theme": (True, "default"),
    }
    started = await bob.post(f"/api/v1/deployments/{second['id']}/start")
    assert started.status_code == 200, started.text
    await wait_for(bob, second["id"], "succeeded")
    events, _ = await read_events(bob, second["id"])
    assert not [e for e in events if e.data.get("status") == "waiting_for_input"], events
    assert first["id"] != second["id"]
    apps = (await bob.get("/api/v1/environments/staging")).json()["apps"]
    assert [d["number"] for d in apps[0]["deployments"]] == [2, 1]


async def test_one_deployment_of_an_app_is_active_at_a_time(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    first = await send_blog(bob)
    assert (await bob.post(f"/api/v1/deployments/{first['id']}/start")).status_code == 200
    await wait_for(bob, first["id"], "waiting_for_input")  # db needs its password
    second = await send_blog(bob)
    refused = await bob.post(f"/api/v1/deployments/{second['id']}/start")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    assert f"deployment #{first['number']} of blog is still active" in error["message"]
    assert str(first["id"]) in error["message"]
    assert error["details"] == [
        {"active_deployment": {"id": first["id"], "number": first["number"]}}
    ]
    assert (await bob.get(f"/api/v1/deployments/{second['id']}")).json()["status"] == "created"

    cancelled = await bob.post(f"/api/v1/deployments/{first['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert {s["status"] for s in cancelled.json()["steps"]} == {"cancelled"}
    assert (await bob.post(f"/api/v1/deployments/{second['id']}/start")).status_code == 200
    assert (await bob.post(f"/api/v1/deployments/{second['id']}/cancel")).status_code == 200


FORBIDDEN = [
    # DESIGN.md: start only from created; cancel from created, running, waiting_for_input.
    ("start", D.RUNNING),
    ("start", D.WAITING_FOR_INPUT),
    ("start", D.SUCCEEDED),
    ("start", D.FAILED),
    ("start", D.CANCELLED),
    ("start", D.SUPERSEDED),
    ("cancel", D.SUCCEEDED),
    ("cancel", D.FAILED),
    ("cancel", D.CANCELLED),
    ("cancel", D.SUPERSEDED),
]


async def _put_in(world: World, deployment_id: int, status: D) -> None:
    """Bring a created deployment to `status` the way the executor would, through the store."""
    transitions, now = world.store.transitions, datetime.now(UTC)
    if status is D.CREATED:
        return
    if status in (D.SUPERSEDED, D.CANCELLED):
        await transitions.deployment(deployment_id, status, allowed_from=(D.CREATED,), now=now)
        return
    await transitions.start(deployment_id, now=now)
    if status is not D.RUNNING:  # waiting for input, or ended
        await transitions.deployment(deployment_id, status, allowed_from=(D.RUNNING,), now=now)


@pytest.mark.parametrize(("action", "status"), FORBIDDEN, ids=[f"{a} {s}" for a, s in FORBIDDEN])
async def test_every_change_the_table_forbids_is_a_409_saying_why(
    world: World, action: str, status: D
):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    await _put_in(world, blog["id"], status)
    answer = await bob.post(f"/api/v1/deployments/{blog['id']}/{action}")
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "conflict"
    wanted = "running" if action == "start" else "cancelled"
    assert f"the deployment is {status}, so it cannot become {wanted}" in error["message"]
    assert error["details"] == [{"status": status.value}]
    assert (await bob.get(f"/api/v1/deployments/{blog['id']}")).json()["status"] == status


@pytest.mark.parametrize("status", [D.SUCCEEDED, D.FAILED, D.CANCELLED, D.SUPERSEDED])
async def test_a_final_deployment_takes_no_answers(world: World, status: D):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    await _put_in(world, blog["id"], status)
    answer = await bob.post(
        f"/api/v1/deployments/{blog['id']}/inputs", json={"domain": "blog.example.org"}
    )
    assert answer.status_code == 409, answer.text
    assert f"the deployment is {status}" in answer.json()["error"]["message"]
    assert await world.store.deployments.answers(blog["id"]) == []


async def test_starting_without_a_cluster_is_a_503_and_the_deployment_stays_created(
    world: World,
):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    answer = await bob.post(f"/api/v1/deployments/{blog['id']}/start")
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "cluster_unavailable"
    assert "--kube sim" in error["message"]
    assert (await bob.get(f"/api/v1/deployments/{blog['id']}")).json()["status"] == "created"
    stored = await world.store.deployments.events(blog["id"])
    assert [e.data["status"] for e in stored] == ["created"]
    # It can still be cancelled: nothing of it is in a cluster.
    cancelled = await bob.post(f"/api/v1/deployments/{blog['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


async def test_another_persons_deployment_cannot_be_started_or_cancelled(world: World):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    eve = await world.as_person("eve")
    for action in ("start", "cancel", "inputs", "events"):
        method = "GET" if action == "events" else "POST"
        body = {"domain": "x.example.org"} if action == "inputs" else None
        answer = await eve.request(method, f"/api/v1/deployments/{blog['id']}/{action}", json=body)
        assert answer.status_code == 404, (action, answer.text)
    assert (await bob.get(f"/api/v1/deployments/{blog['id']}")).json()["status"] == "created"


async def test_a_cluster_that_does_not_answer_is_a_503_and_changes_nothing(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    blog = await send_blog(bob)
    await cluster_world.sim.stop()
    started = await bob.post(f"/api/v1/deployments/{blog['id']}/start")
    assert started.status_code == 503, started.text
    assert started.json()["error"]["code"] == "cluster_unavailable"
    assert (await bob.get(f"/api/v1/deployments/{blog['id']}")).json()["status"] == "created"
    secret = await bob.post(
        f"/api/v1/deployments/{blog['id']}/inputs", json={"db_password": "a-long-password"}
    )
    assert secret.status_code == 503, secret.text
    assert "a-long-password" not in secret.text
    assert await cluster_world.store.deployments.answers(blog["id"]) == []
    # An environment is made all the same: its namespace is made when the cluster answers.
    made = await bob.post("/api/v1/environments", json={"name": "later"})
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("status", [D.RUNNING, D.WAITING_FOR_INPUT])
async def test_cancelling_a_running_deployment_without_a_cluster_is_a_503(world: World, status: D):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    await _put_in(world, blog["id"], status)
    answer = await bob.post(f"/api/v1/deployments/{blog['id']}/cancel")
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "cluster_unavailable"
    assert (await bob.get(f"/api/v1/deployments/{blog['id']}")).json()["status"] == status


ASKING = b"""
runway: 1
app: hello
inputs:
  greeting: { prompt: What the page says }
services:
  web:
    image: ghcr.io/example/hello:1.0.0
    ports: [8080]
    ready: { tcp: 8080 }
    env: { GREETING: "${{ inputs.greeting }}" }
"""


async def test_a_restarted_server_resumes_the_deployment_it_left_waiting(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    hello = await send_blog(bob, config=ASKING)
    assert (await bob.post(f"/api/v1/deployments/{hello['id']}/start")).status_code == 200
    await wait_for(bob, hello["id"], "waiting_for_input")
    await cluster_world.executor.close()  # the server stops: nothing is written
    ctx = cluster_world.app.state.runway
    again = create_app(cluster_world.settings, cluster_world.store, cluster=ctx.cluster)
    async with again.router.lifespan_context(again):  # starts as `runway serve` does
        assert again.state.runway.executor.running(hello["id"])
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=again), base_url=PUBLIC_URL, headers=bob.headers
        )
        cluster_world.clients.append(client)
        answered = await client.post(
            f"/api/v1/deployments/{hello['id']}/inputs", json={"greeting": "hello"}
        )
        assert answered.status_code == 200, answered.text
        done = await wait_for(client, hello["id"], "succeeded")
    assert {s["status"] for s in done["steps"]} == {"succeeded"}
    assert not again.state.runway.executor.running(hello["id"])
