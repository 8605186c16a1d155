"""An environment's apps as `GET /api/v1/environments/{env}` shows them: services with their
state and URLs (https when the installation has TLS), and the latest deployments."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from runway.deploy import CertManagerTls, RenderSettings
from runway.http import create_app
from tests.http.stories import person_with_environment, send_blog
from tests.http.worlds import PUBLIC_URL, World

pytestmark = pytest.mark.anyio


async def test_an_apps_urls_come_from_its_answered_hosts(world: World):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    before = (await bob.get("/api/v1/environments/staging")).json()
    (app,) = before["apps"]
    assert {s["name"]: s["urls"] for s in app["services"]}["web"] == []  # domain not answered
    assert {s["status"] for s in app["services"]} == {"pending"}
    answered = await bob.post(
        f"/api/v1/deployments/{blog['id']}/inputs", json={"domain": "blog.example.org"}
    )
    assert answered.status_code == 200, answered.text
    plain = (await bob.get("/api/v1/environments/staging")).json()
    assert _urls(plain) == {
        "db": [],
        "migrate": [],
        "web": ["http://blog.example.org/"],
        "worker": [],
    }

    tls = dataclasses.replace(
        world.settings, render=RenderSettings(tls=CertManagerTls("letsencrypt"))
    )
    secure = create_app(tls, world.store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=secure), base_url=PUBLIC_URL, headers=dict(bob.headers)
    ) as client:
        shown = (await client.get("/api/v1/environments/staging")).json()
    await secure.state.runway.executor.close()
    assert _urls(shown)["web"] == ["https://blog.example.org/"]


async def test_an_app_shows_its_latest_deployments_newest_first(world: World):
    bob = await person_with_environment(world)
    for _ in range(7):
        await send_blog(bob)
    hello = b"runway: 1\napp: hello\nservices:\n  web:\n    image: example/hello:1\n"
    await send_blog(bob, config=hello)
    apps = (await bob.get("/api/v1/environments/staging")).json()["apps"]
    assert [a["name"] for a in apps] == ["blog", "hello"]
    blog, hello_app = apps
    assert [d["number"] for d in blog["deployments"]] == [7, 6, 5, 4, 3]
    assert blog["latest_deployment"]["number"] == 7
    assert [d["status"] for d in blog["deployments"]] == ["created"] + ["superseded"] * 4
    assert [d["number"] for d in hello_app["deployments"]] == [8]


def _urls(environment: dict) -> dict[str, list[str]]:
    (app,) = environment["apps"]
    return {s["name"]: s["urls"] for s in app["services"]}
