"""Ingress hosts over the API: claimed by one app in all of runway when a deployment is created,
optionally limited to the admin's domains (GET/PATCH /api/v1/settings)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from runway.store.records import Role
from tests.http.worlds import World

pytestmark = pytest.mark.anyio

YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}
BLOG = (Path(__file__).parents[2] / "examples" / "blog.yaml").read_bytes()


def config(app: str, host: str, *, service: str = "web") -> bytes:
    return (
        f"runway: 1\napp: {app}\nservices:\n  {service}:\n    image: nginx:1.27\n"
        f"    ports: [80]\n    expose: {{port: 80, host: '{host}'}}\n"
    ).encode()


async def member_with_environment(world: World, name: str, env: str) -> httpx.AsyncClient:
    client = await world.as_person(name)
    made = await client.post("/api/v1/environments", json={"name": env})
    assert made.status_code == 201, made.text
    return client


async def deploy(client: httpx.AsyncClient, env: str, body: bytes) -> httpx.Response:
    return await client.post(f"/api/v1/environments/{env}/deployments", content=body, headers=YAML)


async def held(world: World, owner: str, env: str, app: str) -> list[str]:
    user = await world.store.users.by_name(owner)
    assert user is not None
    environment = await world.store.environments.get(user.id, env)
    assert environment is not None
    return await world.store.hosts.held(environment.id, app)


async def test_a_host_taken_by_another_user_is_a_409_naming_nothing_of_them(world: World):
    annabel = await member_with_environment(world, "annabel", "secretgarden")
    first = await deploy(annabel, "secretgarden", config("hiddenapp", "blog.example.org"))
    assert first.status_code == 201, first.text
    bob = await member_with_environment(world, "bob", "staging")

    refused = await deploy(bob, "staging", config("shop", "blog.example.org", service="front"))

    assert refused.status_code == 409, refused.text
    assert refused.json() == {
        "error": {
            "code": "host_taken",
            "message": "the host blog.example.org is already claimed by another app",
            "details": [
                {
                    "path": "services.front.expose.host",
                    "message": "the host blog.example.org is already claimed by another app",
                }
            ],
        }
    }
    for secret in ("annabel", "secretgarden", "hiddenapp"):
        assert secret not in refused.text
    listed = await bob.get("/api/v1/environments/staging/deployments")
    assert listed.json()["items"] == [], "a refused configuration is not stored"
    assert await held(world, "bob", "staging", "shop") == []
    assert await held(world, "annabel", "secretgarden", "hiddenapp") == ["blog.example.org"]


async def test_another_app_of_the_same_owner_is_refused_too(world: World):
    ann = await member_with_environment(world, "ann", "staging")
    assert (await deploy(ann, "staging", config("blog", "blog.example.org"))).status_code == 201
    other_app = await deploy(ann, "staging", config("wiki", "blog.example.org"))
    assert other_app.status_code == 409
    assert other_app.json()["error"]["code"] == "host_taken"
    made = await ann.post("/api/v1/environments", json={"name": "production"})
    assert made.status_code == 201
    other_env = await deploy(ann, "production", config("blog", "blog.example.org"))
    assert other_env.status_code == 409, "the same app name in another environment is another app"


async def test_the_same_app_redeploying_keeps_its_host(world: World):
    ann = await member_with_environment(world, "ann", "staging")
    for _ in range(3):
        again = await deploy(ann, "staging", config("blog", "blog.example.org"))
        assert again.status_code == 201, again.text
    assert await held(world, "ann", "staging", "blog") == ["blog.example.org"]
    listed = await ann.get("/api/v1/environments/staging/deployments")
    assert [d["number"] for d in listed.json()["items"]] == [3, 2, 1]


async def test_templated_hosts_wait_for_their_answers(world: World):
    ann = await member_with_environment(world, "ann", "staging")
    created = await deploy(ann, "staging", BLOG)
    assert created.status_code == 201, created.text
    assert await held(world, "ann", "staging", "blog") == []


async def test_deleting_the_environment_frees_its_hosts(world: World):
    ann = await member_with_environment(world, "ann", "staging")
    bob = await member_with_environment(world, "bob", "staging")
    assert (await deploy(ann, "staging", config("blog", "blog.example.org"))).status_code == 201
    assert (await deploy(bob, "staging", config("blog", "blog.example.org"))).status_code == 409
    assert (await ann.delete("/api/v1/environments/staging")).status_code == 204
    taken_over = await deploy(bob, "staging", config("blog", "blog.example.org"))
    assert taken_over.status_code == 201, taken_over.text
    assert await held(world, "bob", "staging", "blog") == ["blog.example.org"]


async def test_two_users_sending_one_host_at_once_one_wins(world: World):
    ann = await member_with_environment(world, "ann", "staging")
    bob = await member_with_environment(world, "bob", "staging")
    answers = await asyncio.gather(
        *(deploy(client, "staging", config("blog", "race.example.org")) for client in (ann, bob))
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409], [
        answer.text for answer in answers
    ]


async def test_a_host_that_kubernetes_would_refuse_is_a_422(world: World):
    ann = await member_with_environment(world, "ann", "staging")
    long_label = "a" * 64 + ".example.org"  # the format's pattern takes it; DNS does not
    refused = await deploy(ann, "staging", config("blog", long_label))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"][0]["path"] == "services.web.expose.host"
    assert "longer than 63" in error["details"][0]["message"]


async def test_hosts_outside_the_allowed_domains_are_a_422_listing_them(world: World):
    root = await world.as_person("root", Role.ADMIN)
    changed = await root.patch(
        "/api/v1/settings", json={"allowed_domains": ["Example.ORG.", "apps.example.net"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["allowed_domains"] == ["apps.example.net", "example.org"]
    ann = await member_with_environment(world, "ann", "staging")

    refused = await deploy(ann, "staging", config("blog", "blog.badexample.org"))

    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "host_not_allowed"
    assert "apps.example.net, example.org" in error["message"]
    assert error["details"] == [
        {
            "path": "services.web.expose.host",
            "message": "'blog.badexample.org' is not under the allowed domains "
            "(apps.example.net, example.org)",
        }
    ]
    assert await held(world, "ann", "staging", "blog") == []
    listed = await ann.get("/api/v1/environments/staging/deployments")
    assert listed.json()["items"] == []
    for host in ("example.org", "blog.example.org", "x.apps.example.net"):
        allowed = await deploy(ann, "staging", config("blog", host))
        assert allowed.status_code == 201, allowed.text
    cleared = await root.patch("/api/v1/settings", json={"allowed_domains": []})
    assert cleared.json()["allowed_domains"] == []
    anything = await deploy(ann, "staging", config("blog", "blog.badexample.org"))
    assert anything.status_code == 201, anything.text


async def test_admins_read_and_change_the_settings(world: World):
    root = await world.as_person("root", Role.ADMIN)
    assert (await root.get("/api/v1/settings")).json()["allowed_domains"] == []
    unchanged = await root.patch("/api/v1/settings", json={})
    assert unchanged.status_code == 200
    assert unchanged.json()["allowed_domains"] == []
    changed = await root.patch(
        "/api/v1/settings", json={"allowed_domains": ["example.org", "EXAMPLE.org."]}
    )
    assert changed.json()["allowed_domains"] == ["example.org"]
    assert (await root.get("/api/v1/settings")).json()["allowed_domains"] == ["example.org"]


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"allowed_domains": "example.org"}, ["allowed_domains"]),
        (
            {"allowed_domains": ["ok.org", "not a domain", 7, "a" * 300]},
            ["allowed_domains[1]", "allowed_domains[2]", "allowed_domains[3]"],
        ),
        ({"allowed_domains": ["192.0.2.1"]}, ["allowed_domains[0]"]),
        ({"allowed_domains": [f"d{i}.org" for i in range(101)]}, ["allowed_domains"]),
        ({"allowed_domains": ["\ud800.org"]}, ["allowed_domains[0]"]),
        ({"allowed": []}, ["allowed"]),
    ],
)
async def test_wrong_settings_are_a_422_listing_every_problem(world: World, body, paths):
    root = await world.as_person("root", Role.ADMIN)
    await root.patch("/api/v1/settings", json={"allowed_domains": ["kept.org"]})
    # As ASCII JSON: a lone surrogate travels as the escape `\ud800`.
    raw = json.dumps(body).encode()
    refused = await root.patch("/api/v1/settings", content=raw, headers=JSON)
    assert refused.status_code == 422, refused.text
    assert [d["path"] for d in refused.json()["error"]["details"]] == paths
    assert (await root.get("/api/v1/settings")).json()["allowed_domains"] == ["kept.org"]


async def test_members_do_not_find_the_settings(world: World):
    member = await world.as_person("bob")
    for method, body in (("GET", None), ("PATCH", {"allowed_domains": ["mine.org"]})):
        answer = await member.request(method, "/api/v1/settings", json=body)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"] == {
            "code": "not_found",
            "message": "no such path: /api/v1/settings",
            "details": [],
        }
    assert await world.store.hosts.allowed_domains() == []
    anonymous = await world.client().get("/api/v1/settings")
    assert anonymous.status_code == 401
