"""The installation's settings (GET/PATCH /api/v1/settings): every problem of a PATCH at once,
stored in the database, applied at once on the instance that took it and within a refresh on
the others, with `allowed_domains` as before; and the flags of `runway serve` as starting
values that an admin's later change outlives until the flag itself changes."""

from __future__ import annotations

import argparse
import asyncio

import httpx
import pytest
from starlette.requests import Request

from runway.cli.serving import _installation
from runway.cli.settings_flags import given
from runway.deploy.render_target import CertManagerTls, ExistingTls
from runway.http import create_app, installation
from runway.http.installation import refresh
from runway.http.requests import address
from runway.store.records import Role
from tests.http.test_hosts import config, deploy, member_with_environment
from tests.http.worlds import PUBLIC_URL, World

pytestmark = pytest.mark.anyio

CHANGES = {
    "public_url": "https://Runway.Example.org/",
    "apps_domain": "Apps.Example.org.",
    "ingress_class": "nginx",
    "tls": {"issuer": "letsencrypt"},
    "default_quota": {"pods": "20", "requests.cpu": "1500m"},
    "trusted_proxies": ["10.0.0.0/8", "192.0.2.1"],
}


async def test_an_admin_reads_the_defaults_and_changes_them_all(world: World):
    root = await world.as_person("root", Role.ADMIN)
    first = (await root.get("/api/v1/settings")).json()
    assert first["allowed_domains"] == []
    assert first["public_url"] == PUBLIC_URL
    assert first["tls"] is None and first["ingress_class"] is None and first["apps_domain"] is None
    assert first["default_quota"]["pods"] == "50"  # runway's built-in quota
    assert first["trusted_proxies"] == []

    changed = await root.patch("/api/v1/settings", json=CHANGES)
    assert changed.status_code == 200, changed.text
    expected = {
        "allowed_domains": [],
        "public_url": "https://runway.example.org",
        "apps_domain": "apps.example.org",
        "ingress_class": "nginx",
        "tls": {"issuer": "letsencrypt"},
        "default_quota": {"pods": "20", "requests.cpu": "1500m"},
        "trusted_proxies": ["10.0.0.0/8", "192.0.2.1/32"],
    }
    assert changed.json() == expected
    assert (await root.get("/api/v1/settings")).json() == expected

    # Applied at once: the executor renders with them, links use the new URL.
    ctx = world.app.state.runway
    assert world.executor.settings.ingress_class == "nginx"
    assert world.executor.settings.tls == CertManagerTls("letsencrypt")
    assert ctx.settings.environments.default_quota == {"pods": "20", "requests.cpu": "1500m"}
    assert ctx.settings.monitor_url(7) == "https://runway.example.org/ui/deployments/7"
    invite = await root.post("/api/v1/invites", json={})
    assert invite.json()["url"].startswith("https://runway.example.org/ui/invite/"), invite.text

    # Stored: a new server on the same database starts with them.
    again = create_app(world.settings, world.store)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=again), base_url=PUBLIC_URL
        ) as client:
            root_user = await world.store.users.by_name("root")
            assert root_user is not None
            token = await world.token(root_user)
            read = await client.get(
                "/api/v1/settings", headers={"Authorization": f"Bearer {token}"}
            )
            assert read.json() == expected
    finally:
        await again.state.runway.executor.close()


async def test_a_patch_with_problems_lists_every_one_and_changes_nothing(world: World):
    root = await world.as_person("root", Role.ADMIN)
    refused = await root.patch(
        "/api/v1/settings",
        json={
            "public_url": "ftp://x",
            "apps_domain": "not a domain",
            "ingress_class": "Nginx!",
            "tls": {"issuer": "a", "secret": "b"},
            "default_quota": {"pods": "many", "gpus": "1"},
            "trusted_proxies": ["10.0.0.0/8", "over there"],
            "allowed_domains": ["example.org"],
            "colour": "blue",
        },
    )
    assert refused.status_code == 422, refused.text
    paths = sorted(problem["path"] for problem in refused.json()["error"]["details"])
    assert paths == [
        "apps_domain",
        "colour",
        "default_quota.gpus",
        "default_quota.pods",
        "ingress_class",
        "public_url",
        "tls",
        "trusted_proxies[1]",
    ]
    after = (await root.get("/api/v1/settings")).json()
    assert after["allowed_domains"] == [] and after["public_url"] == PUBLIC_URL

    for body in (
        {"public_url": None},
        {"public_url": "https://runway.example.org/some/path"},
        {"tls": {"secret": "Not_A_Name"}},
        {"tls": "letsencrypt"},
        {"default_quota": []},
        {"default_quota": {"pods": "-1"}},
        {"trusted_proxies": "10.0.0.0/8"},
    ):
        answer = await root.patch("/api/v1/settings", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["details"], body


async def test_null_turns_a_setting_off_and_members_cannot_see_any(world: World):
    root = await world.as_person("root", Role.ADMIN)
    await root.patch("/api/v1/settings", json={"tls": {"secret": "wildcard"}})
    assert world.executor.settings.tls == ExistingTls("wildcard")
    off = await root.patch("/api/v1/settings", json={"tls": None, "default_quota": None})
    assert off.json()["tls"] is None
    assert off.json()["default_quota"]["pods"] == "50"
    assert world.executor.settings.tls is None

    member = await world.as_person("mia")
    assert (await member.get("/api/v1/settings")).status_code == 404
    assert (await member.patch("/api/v1/settings", json={"tls": None})).status_code == 404


async def test_another_instance_takes_a_change_at_its_next_refresh(world: World):
    other = create_app(world.settings, world.store)
    try:
        root = await world.as_person("root", Role.ADMIN)
        await root.patch("/api/v1/settings", json={"ingress_class": "traefik"})
        ctx = other.state.runway
        assert ctx.executor.settings.ingress_class is None
        await refresh(ctx, other.state.start_settings)
        assert ctx.executor.settings.ingress_class == "traefik"
    finally:
        await other.state.runway.executor.close()


async def test_a_running_instance_reads_the_settings_again_by_itself(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(installation, "REFRESH", 0.01)
    other = create_app(world.settings, world.store)
    ctx = other.state.runway
    reading = asyncio.create_task(installation.keep_applied(ctx, other.state.start_settings))
    try:
        await world.store.settings.write({"public_url": "https://elsewhere.example.org"})
        for _ in range(200):
            if ctx.settings.public_url == "https://elsewhere.example.org":
                break
            await asyncio.sleep(0.01)
        assert ctx.settings.public_url == "https://elsewhere.example.org"
    finally:
        reading.cancel()
        await other.state.runway.executor.close()


async def test_the_trusted_proxies_decide_the_client_address_at_once(world: World):
    """A proxy's X-Forwarded-For is believed once the proxy is trusted, from the next request."""
    root = await world.as_person("root", Role.ADMIN)
    forwarded = Request(
        {
            "type": "http",
            "app": world.app,
            "client": ("203.0.113.7", 4321),
            "headers": [(b"x-forwarded-for", b"198.51.100.9")],
        }
    )
    assert address(forwarded) == "203.0.113.7"
    await root.patch("/api/v1/settings", json={"trusted_proxies": ["203.0.113.0/24"]})
    assert address(forwarded) == "198.51.100.9"


async def test_hosts_under_the_apps_domain_stay_claimable_when_domains_are_limited(world: World):
    root = await world.as_person("root", Role.ADMIN)
    await root.patch("/api/v1/settings", json={"allowed_domains": ["example.org"]})
    ann = await member_with_environment(world, "ann", "staging")
    refused = await deploy(ann, "staging", config("shop", "shop.apps.example.net"))
    assert refused.status_code == 422, refused.text
    await root.patch("/api/v1/settings", json={"apps_domain": "apps.example.net"})
    taken = await deploy(ann, "staging", config("shop", "shop.apps.example.net"))
    assert taken.status_code == 201, taken.text
    elsewhere = await deploy(ann, "staging", config("blog", "blog.example.net"))
    assert elsewhere.status_code == 422, "only the apps domain, not its parent"


# The flags of `runway serve` ---------------------------------------------------------------


def flags(**given_flags: str | None) -> argparse.Namespace:
    names = ("public_url", "trusted_proxies", "apps_domain", "ingress_class")
    names += ("cert_manager_issuer", "tls_secret", "default_quota")
    return argparse.Namespace(**{name: given_flags.get(name) for name in names})


def test_flags_are_checked_as_the_api_checks_them():
    assert given(flags()) == {}
    assert given(
        flags(
            public_url="https://runway.example.org",
            trusted_proxies="10.0.0.0/8, 127.0.0.1",
            tls_secret="wildcard",
            default_quota="pods=20,requests.cpu=2",
        )
    ) == {
        "public_url": "https://runway.example.org",
        "trusted_proxies": ["10.0.0.0/8", "127.0.0.1/32"],
        "tls": {"secret": "wildcard"},
        "default_quota": {"pods": "20", "requests.cpu": "2"},
    }
    with pytest.raises(ValueError, match="--apps-domain") as wrong:
        given(flags(apps_domain="no way", default_quota="pods", ingress_class="A_B"))
    message = str(wrong.value)
    for flag in ("--apps-domain", "--default-quota", "--ingress-class"):
        assert flag in message
    with pytest.raises(ValueError, match="give one of them"):
        given(flags(cert_manager_issuer="a", tls_secret="b"))


async def test_the_last_change_wins_between_a_flag_and_an_admin(world: World):
    settings = world.store.settings
    assert await settings.seed({"ingress_class": "nginx"}) == {"ingress_class": "nginx"}
    assert (await settings.read())["ingress_class"] == "nginx"

    await settings.write({"ingress_class": "traefik"})  # an admin's PATCH
    assert await settings.seed({"ingress_class": "nginx"}) == {}, "the same flag again"
    assert (await settings.read())["ingress_class"] == "traefik"

    assert await settings.seed({"ingress_class": "haproxy"}) == {"ingress_class": "haproxy"}
    assert (await settings.read())["ingress_class"] == "haproxy", "the flag changed: it wins"
    assert await settings.seed({}) == {}, "a flag left out changes nothing"
    assert (await settings.read())["ingress_class"] == "haproxy"


async def test_a_starting_server_stores_changed_flags_and_serves_what_is_stored(world: World):
    started = await _installation(
        world.store, world.settings, {"public_url": "https://runway.example.org"}
    )
    assert started.public_url == "https://runway.example.org"
    await world.store.settings.write({"public_url": "https://moved.example.org"})
    again = await _installation(
        world.store, world.settings, {"public_url": "https://runway.example.org"}
    )
    assert again.public_url == "https://moved.example.org", "the admin's change outlives it"


async def test_a_stored_value_that_is_not_one_is_ignored_not_a_500(world: World):
    root = await world.as_person("root", Role.ADMIN)
    await world.store.settings.write({"trusted_proxies": "nonsense", "apps_domain": 7})
    read = await root.get("/api/v1/settings")
    assert read.status_code == 200, read.text
    assert read.json()["trusted_proxies"] == [] and read.json()["apps_domain"] is None
