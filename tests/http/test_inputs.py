"""Answers through the API: checked against their inputs, secret values straight into
Kubernetes Secrets and nowhere else, generated on request, revealed to their owner only; and
environments' namespaces made when they are created."""

from __future__ import annotations

import base64
import logging
import re

import httpx
import pytest

from runway.store.tables import metadata
from tests.http.stories import assert_conforms, person_with_environment, read_events, send_blog
from tests.http.worlds import World
from tests.store.store_worlds import Raw

pytestmark = pytest.mark.anyio

PASSWORD = "Tr0ub4dor-and-3-horses"
SECRETS = "/api/v1/namespaces/rw-bob-staging/secrets"


async def test_every_refused_answer_is_listed_with_its_input(world: World):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    answer = await bob.post(
        f"/api/v1/deployments/{blog['id']}/inputs",
        json={
            "domian": "blog.example.org",
            "domain": "Not A Host",
            "theme": "blue",
            "admin_email": {"generate": True},
            "db_password": {"generate": False},
        },
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    problems = {p["path"]: p["message"] for p in error["details"]}
    assert problems == {
        "domian": "unknown input 'domian'; did you mean 'domain'?",
        "domain": "'Not A Host' does not match the pattern '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'",
        "theme": "'blue' is not one of the choices (light, dark)",
        "admin_email": 'only a secret input with `generate` takes {"generate": true}; send the value',
        "db_password": 'expected a value, or {"generate": true} to have one generated',
    }
    assert await world.store.deployments.answers(blog["id"]) == []
    empty = await bob.post(f"/api/v1/deployments/{blog['id']}/inputs", json={})
    assert empty.status_code == 422


async def test_plain_answers_need_no_cluster_and_are_events_without_values(world: World):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    path = f"/api/v1/deployments/{blog['id']}"
    answer = await bob.post(f"{path}/inputs", json={"domain": "blog.example.org", "theme": "dark"})
    assert answer.status_code == 200, answer.text
    questions = {q["name"]: q for q in answer.json()["questions"]}
    assert (questions["theme"]["source"], questions["theme"]["value"]) == ("answer", "dark")
    assert questions["db_password"]["answered"] is False
    stored = await world.store.deployments.events(blog["id"])
    assert [(e.type, e.data) for e in stored[1:]] == [
        ("answer", {"input": "domain"}),
        ("answer", {"input": "theme"}),
    ]
    secret = await bob.post(f"{path}/inputs", json={"db_password": PASSWORD})
    assert secret.status_code == 503, secret.text
    assert secret.json()["error"]["code"] == "cluster_unavailable"
    assert PASSWORD not in secret.text


async def _dump(world: World) -> str:
    """Every row of every table of the store's database, as text."""
    raw = Raw(world.settings.database_url)
    rows = [await raw.fetch(f"SELECT * FROM {table.name}") for table in metadata.sorted_tables]
    assert any(rows), "the dump read nothing"
    return repr(rows)


async def test_a_secret_answer_lives_only_in_its_kubernetes_secret(
    cluster_world: World, caplog: pytest.LogCaptureFixture
):
    # What `runway serve` logs (INFO), and all of runway's own lines. (At DEBUG,
    # kubernetes_asyncio.client.rest logs every response body, a Secret's data included.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="runway")
    bob = await person_with_environment(cluster_world)
    blog = await send_blog(bob)
    path = f"/api/v1/deployments/{blog['id']}"
    given = await bob.post(f"{path}/inputs", json={"db_password": PASSWORD})
    assert given.status_code == 200, given.text
    again = await bob.post(f"{path}/inputs", json={"db_password": PASSWORD + "!"})
    assert again.status_code == 200, again.text  # a new value is a new Secret: no collision

    (stored,) = await cluster_world.store.deployments.answers(blog["id"])
    assert (stored.secret_name, stored.secret_key, stored.value) == (
        "blog-db-password-2",
        "value",
        None,
    )
    held = {}
    for version in (1, 2):
        secret = await _secret(cluster_world, f"blog-db-password-{version}")
        assert secret["immutable"] is True
        held[version] = base64.b64decode(secret["data"]["value"]).decode()
    assert held == {1: PASSWORD, 2: PASSWORD + "!"}

    revealed = await bob.post("/api/v1/environments/staging/apps/blog/secrets/db_password/reveal")
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["value"] == PASSWORD + "!"
    assert revealed.headers["cache-control"] == "no-store"
    eve = await cluster_world.as_person("eve")
    other = await eve.post(
        "/api/v1/environments/staging/apps/blog/secrets/db_password/reveal?owner=bob"
    )
    assert other.status_code == 404

    assert (await bob.post(f"{path}/cancel")).status_code == 200
    events, _ = await read_events(bob, blog["id"])
    assert [e.event for e in events].count("reveal") == 1
    shown = [
        given.text,
        again.text,
        (await bob.get(path)).text,
        (await bob.get("/api/v1/environments/staging")).text,
        repr([e.data for e in events]),
        await _dump(cluster_world),
        caplog.text,
    ]
    for text in shown:
        assert PASSWORD not in text
        assert base64.b64encode(PASSWORD.encode()).decode() not in text


async def _secret(world: World, name: str) -> dict:
    async with httpx.AsyncClient(base_url=world.sim.url) as kube:
        answer = await kube.get(f"{SECRETS}/{name}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_generated_secret_is_strong_and_revealed_to_its_owner(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    blog = await send_blog(bob)
    given = await bob.post(
        f"/api/v1/deployments/{blog['id']}/inputs", json={"db_password": {"generate": True}}
    )
    assert given.status_code == 200, given.text
    revealed = await bob.post("/api/v1/environments/staging/apps/blog/secrets/db_password/reveal")
    await assert_conforms(bob, "RevealedSecret", revealed.json())
    value = revealed.json()["value"]
    assert re.fullmatch(r"[A-Za-z0-9]{24}", value), value  # blog.yaml: generate: 24
    assert value not in given.text
    other = await bob.post(
        f"/api/v1/deployments/{blog['id']}/inputs", json={"db_password": {"generate": True}}
    )
    again = await bob.post("/api/v1/environments/staging/apps/blog/secrets/db_password/reveal")
    assert again.json()["value"] != value
    assert other.status_code == 200
    stored = await cluster_world.store.deployments.events(blog["id"])
    reveals = [e.data for e in stored if e.type == "reveal"]
    assert reveals == [{"input": "db_password", "reason": "revealed to bob"}] * 2


async def test_revealing_what_was_never_answered_is_not_found(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    await send_blog(bob)
    for app, name in (("blog", "db_password"), ("blog", "domain"), ("nope", "db_password")):
        answer = await bob.post(f"/api/v1/environments/staging/apps/{app}/secrets/{name}/reveal")
        assert answer.status_code == 404, answer.text


async def test_creating_an_environment_makes_its_namespace(cluster_world: World):
    await person_with_environment(cluster_world)
    async with httpx.AsyncClient(base_url=cluster_world.sim.url) as kube:
        found = await kube.get("/api/v1/namespaces/rw-bob-staging")
        quota = await kube.get("/api/v1/namespaces/rw-bob-staging/resourcequotas/runway")
    assert found.status_code == 200, found.text
    assert found.json()["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "runway"
    assert quota.status_code == 200, quota.text


async def test_a_namespace_runway_did_not_make_is_a_409(cluster_world: World):
    async with httpx.AsyncClient(base_url=cluster_world.sim.url) as kube:
        made = await kube.post("/api/v1/namespaces", json={"metadata": {"name": "rw-bob-prod"}})
        assert made.status_code == 201, made.text
    bob = await cluster_world.as_person("bob")
    answer = await bob.post("/api/v1/environments", json={"name": "prod"})
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "namespace_not_ours"
    assert "rw-bob-prod" in error["message"]
    assert (await bob.get("/api/v1/environments/prod")).status_code == 404


async def test_an_environment_is_created_without_a_cluster(world: World):
    bob = await person_with_environment(world)
    listed = await bob.get("/api/v1/environments")
    assert [e["name"] for e in listed.json()["items"]] == ["staging"]
