"""Environments and deployments: sending configurations, seeing only one's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runway.store.records import Role
from tests.http.worlds import World

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).parents[2] / "examples"
BLOG = (EXAMPLES / "blog.yaml").read_bytes()
YAML = {"Content-Type": "application/yaml"}


async def a_person_with_an_environment(world: World, name: str = "bob", env: str = "staging"):
    client = await world.as_person(name)
    assert (await client.post("/api/v1/environments", json={"name": env})).status_code == 201
    return client


async def test_an_environment_gets_its_own_namespace(world: World):
    bob = await world.as_person("bob")
    made = await bob.post("/api/v1/environments", json={"name": "staging"})
    assert made.status_code == 201
    assert made.headers["Location"] == "/api/v1/environments/staging"
    assert made.json() == {
        **made.json(),
        "name": "staging",
        "owner": "bob",
        "namespace": "rw-bob-staging",
        "on_failure": "manual",
    }
    again = await bob.post("/api/v1/environments", json={"name": "staging"})
    assert again.status_code == 409
    bad = await bob.post("/api/v1/environments", json={"name": "Staging!"})
    assert bad.status_code == 422
    listed = await bob.get("/api/v1/environments")
    assert [e["name"] for e in listed.json()["items"]] == ["staging"]


async def test_another_persons_environment_is_not_found(world: World):
    await a_person_with_an_environment(world, "bob")
    eve = await world.as_person("eve")
    for method, path in [
        ("GET", "/api/v1/environments/staging"),
        ("PATCH", "/api/v1/environments/staging"),
        ("DELETE", "/api/v1/environments/staging"),
        ("GET", "/api/v1/environments/staging/deployments"),
        ("GET", "/api/v1/environments?owner=bob"),
    ]:
        answer = await eve.request(method, path, json={} if method == "PATCH" else None)
        assert answer.status_code == 404, (method, path)
    admin = await world.as_person("root", Role.ADMIN)
    seen = await admin.get("/api/v1/environments/staging?owner=bob")
    assert seen.status_code == 200
    assert seen.json()["owner"] == "bob"


async def test_sending_a_configuration_creates_a_planned_deployment(world: World):
    bob = await a_person_with_an_environment(world)
    made = await bob.post("/api/v1/environments/staging/deployments", content=BLOG, headers=YAML)
    assert made.status_code == 201, made.text
    deployment = made.json()
    assert made.headers["Location"] == f"/api/v1/deployments/{deployment['id']}"
    assert deployment["status"] == "created"
    assert deployment["number"] == 1
    assert deployment["monitor_url"] == f"http://runway.test/ui/deployments/{deployment['id']}"
    assert [(s["name"], s["status"], s["depth"]) for s in deployment["steps"]] == [
        ("db", "pending", 0), ("migrate", "pending", 1), ("web", "pending", 2), ("worker", "pending", 2),
    ]  # fmt: skip
    assert deployment["critical_path"] == ["db", "migrate", "web"]
    questions = {q["name"]: q for q in deployment["questions"]}
    assert questions["theme"]["source"] == "default"
    assert questions["theme"]["value"] == "light"
    assert questions["db_password"]["needed_by"] == ["db", "migrate", "web", "worker"]
    assert "value" not in questions["db_password"]
    fetched = await bob.get(f"/api/v1/deployments/{deployment['id']}")
    assert fetched.json() == deployment


async def test_json_configurations_are_accepted_too(world: World):
    bob = await a_person_with_an_environment(world)
    config = {"runway": 1, "app": "hello", "services": {"web": {"image": "example/web:1"}}}
    made = await bob.post("/api/v1/environments/staging/deployments", json=config)
    assert made.status_code == 201
    assert made.json()["app"] == "hello"


async def test_an_invalid_configuration_gets_every_problem_and_stores_nothing(world: World):
    bob = await a_person_with_an_environment(world)
    typo = (EXAMPLES / "invalid" / "typo.yaml").read_bytes()
    answer = await bob.post("/api/v1/environments/staging/deployments", content=typo, headers=YAML)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["message"] == "the configuration has 4 problems"
    assert error["details"][1] == {
        "path": "services.web.depends_on[0]",
        "line": 6,
        "message": "unknown service 'dbb'; did you mean 'db'?",
    }
    listed = await bob.get("/api/v1/environments/staging/deployments")
    assert listed.json()["items"] == []


async def test_bodies_are_refused_by_size_and_type(world: World):
    bob = await a_person_with_an_environment(world)
    path = "/api/v1/environments/staging/deployments"
    huge = b"runway: 1\n# " + b"x" * (1024 * 1024) + b"\n"
    assert (await bob.post(path, content=huge, headers=YAML)).status_code == 413
    answer = await bob.post(path, content=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "unsupported_media_type"
    broken = await bob.post(
        "/api/v1/environments", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400


async def test_a_newer_deployment_supersedes_older_unstarted_ones(world: World):
    bob = await a_person_with_an_environment(world)
    path = "/api/v1/environments/staging/deployments"
    first = (await bob.post(path, content=BLOG, headers=YAML)).json()
    second = (await bob.post(path, content=BLOG, headers=YAML)).json()
    assert second["number"] == 2
    assert (await bob.get(f"/api/v1/deployments/{first['id']}")).json()["status"] == "superseded"
    listed = (await bob.get(path)).json()["items"]
    assert [(d["number"], d["status"]) for d in listed] == [(2, "created"), (1, "superseded")]


async def test_another_persons_deployment_is_not_found(world: World):
    bob = await a_person_with_an_environment(world)
    made = (
        await bob.post("/api/v1/environments/staging/deployments", content=BLOG, headers=YAML)
    ).json()
    eve = await world.as_person("eve")
    assert (await eve.get(f"/api/v1/deployments/{made['id']}")).status_code == 404
    assert (await eve.get("/api/v1/deployments/999999")).status_code == 404
    admin = await world.as_person("root", Role.ADMIN)
    assert (await admin.get(f"/api/v1/deployments/{made['id']}")).status_code == 200


async def test_the_environment_shows_its_apps(world: World):
    bob = await a_person_with_an_environment(world)
    await bob.post("/api/v1/environments/staging/deployments", content=BLOG, headers=YAML)
    shown = (await bob.get("/api/v1/environments/staging")).json()
    assert [app["name"] for app in shown["apps"]] == ["blog"]
    assert [s["name"] for s in shown["apps"][0]["services"]] == ["db", "migrate", "web", "worker"]


async def test_errors_have_one_shape(world: World):
    anyone = world.client()
    for answer in [
        await anyone.get("/api/v1/nothing-here"),
        await anyone.delete("/api/v1/sessions"),
        await anyone.get("/api/v1/users/me"),
        await anyone.post(
            "/api/v1/sessions", content=b"[1]", headers={"Content-Type": "application/json"}
        ),
    ]:
        error = answer.json()["error"]
        assert set(error) == {"code", "message", "details"}, answer.text
    assert (await anyone.delete("/api/v1/sessions")).status_code == 405


async def test_every_route_is_in_the_openapi_document(world: World):
    document = (await world.client().get("/api/v1/openapi.json")).json()
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    served = {
        (route.path, method)
        for route in world.app.routes
        # The browser's pages (/ui/) are HTML and a websocket, not the API.
        if not getattr(route, "path", "").startswith("/ui/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served == documented
    assert json.dumps(document)  # serialisable as it is served


async def test_health_and_readiness(world: World):
    anyone = world.client()
    assert (await anyone.get("/healthz")).json()["status"] == "ok"
    assert (await anyone.get("/readyz")).json() == {"status": "ready"}
