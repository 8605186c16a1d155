"""Device tokens, as people meet them: someone guessing a person's password from many addresses
keeps that user paused, but the person, whose client logged in before, logs in at once.

The test world allows 3 failures per user, 5 per address, and (the default) 5 per device.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from starlette.responses import Response

from runway.auth import DeviceSigner, LoginLimits
from runway.client import Client, ClientError, devices
from runway.http.context import Context
from runway.http.settings import Settings
from runway.http.ui import browser
from tests.http.worlds import PASSWORD, PUBLIC_URL, World, dump_database

pytestmark = pytest.mark.anyio

HOME = "203.0.113.7"
"""Where the person logs in from (the world's own clients)."""


@pytest.fixture(autouse=True)
def no_dashboard_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The login page warms the dashboard's pool: none here (set before the app is made)."""
    monkeypatch.setenv("RUNWAY_DASHBOARD_POOL", "0")


def from_address(world: World, address: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app, client=(address, 4321)), base_url=PUBLIC_URL
    )
    world.clients.append(client)
    return client


async def log_in(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD, device: str | None = None
) -> httpx.Response:
    body = {"username": name, "password": password}
    if device is not None:
        body["device"] = device
    return await client.post("/api/v1/sessions", json=body)


async def a_device_of(world: World, name: str) -> str:
    """The device token of a login `name` made earlier, from home."""
    answer = await log_in(world.client(), name)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["device"])


async def pause(world: World, name: str) -> None:
    """Someone guesses `name`'s password from three addresses until the user is paused."""
    for i in range(3):
        guess = await log_in(from_address(world, f"198.51.100.{i}"), name, "guess number one")
        assert guess.status_code == 401
    refused = await log_in(from_address(world, "198.51.100.9"), name, "guess number two")
    assert refused.status_code == 429


async def test_the_person_with_a_device_logs_in_while_a_guesser_holds_the_pause(world: World):
    await world.person("bob")
    device = await a_device_of(world, "bob")
    await pause(world, "bob")

    without = await log_in(world.client(), "bob")
    assert without.status_code == 429
    assert "try again in" in without.json()["error"]["message"]

    answer = await log_in(world.client(), "bob", device=device)
    assert answer.status_code == 201, answer.text
    token = answer.json()["token"]
    assert (await world.client(token).get("/api/v1/users/me")).json()["name"] == "bob"
    assert answer.json()["device"] not in ("", device)  # a new one each login
    # The person's login did not give the guesser a fresh allowance.
    again = await log_in(from_address(world, "198.51.100.10"), "bob", "guess number three")
    assert again.status_code == 429


async def test_a_device_skips_only_the_pause_of_the_user_it_logged_in(world: World):
    await world.person("ann")
    await world.person("bob")
    anns = await a_device_of(world, "ann")
    await pause(world, "bob")
    assert (await log_in(world.client(), "bob", device=anns)).status_code == 429


async def test_a_password_change_ends_the_device_tokens_of_the_old_password(world: World):
    _, token = await world.person("bob")
    device = await a_device_of(world, "bob")
    changed = await world.client(token).patch(
        "/api/v1/users/me",
        json={"current_password": PASSWORD, "password": "a brand new passphrase"},
    )
    assert changed.status_code == 200, changed.text
    await pause(world, "bob")
    late = await log_in(world.client(), "bob", "a brand new passphrase", device)
    assert late.status_code == 429


async def test_forged_and_tampered_devices_are_counted_as_no_device(world: World):
    bob, _ = await world.person("bob")
    real = await a_device_of(world, "bob")
    key = await world.store.credentials.signing_key()
    forged = [
        DeviceSigner(b"a key runway does not have" * 2, LoginLimits().device_lifetime).issue(
            bob.id, "bob", "bob's hash"
        ),
        real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB"),
        # Signed with runway's key, for a "bob" who was deleted (another id).
        DeviceSigner(key, LoginLimits().device_lifetime).issue(bob.id + 1000, "bob", "h"),
        "not a token at all",
    ]
    for token in forged[:3]:  # each wrong password counts for the user, as without a token
        assert (await log_in(world.client(), "bob", "wrong password", token)).status_code == 401
    for token in forged:
        assert (await log_in(world.client(), "bob", device=token)).status_code == 429
    assert (await log_in(world.client(), "bob", device=real)).status_code == 201


async def test_a_device_that_failed_too_often_is_no_longer_trusted(world: World):
    await world.person("bob")
    device = await a_device_of(world, "bob")
    await pause(world, "bob")
    # Five wrong passwords with the device: each checked, none held up by the user's pause.
    for _ in range(5):
        wrong = await log_in(from_address(world, "192.0.2.1"), "bob", "wrong password", device)
        assert wrong.status_code == 401
    refused = await log_in(from_address(world, "192.0.2.2"), "bob", device=device)
    assert refused.status_code == 429


async def test_the_failures_of_a_trusted_device_are_not_the_users(world: World):
    await world.person("bob")
    device = await a_device_of(world, "bob")
    for _ in range(3):
        assert (await log_in(world.client(), "bob", "wrong password", device)).status_code == 401
    # Without the device, elsewhere: the user was never paused.
    assert (await log_in(from_address(world, "192.0.2.7"), "bob")).status_code == 201


async def test_the_address_limit_holds_with_a_device_too(world: World):
    await world.person("bob")
    device = await a_device_of(world, "bob")
    guesser = from_address(world, "192.0.2.5")
    for name in ("a1", "a2", "a3", "a4", "a5"):
        assert (await log_in(guesser, name, "wrong password")).status_code == 401
    assert (await log_in(guesser, "bob", device=device)).status_code == 429


async def test_the_device_token_is_in_no_log_database_or_refusal(
    world: World, database_url: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    await world.person("bob")
    device = await a_device_of(world, "bob")
    wrong = await log_in(world.client(), "bob", "wrong password", device)
    kept = await a_device_of(world, "bob")
    dump = await dump_database(database_url)
    for token in (device, kept):
        assert token not in dump
        assert token.split(".")[0] not in dump  # nor its payload (the nonce)
        assert token not in caplog.text
    assert device not in wrong.text


async def test_the_browser_gets_a_device_cookie_that_skips_the_pause(world: World):
    await world.person("bob")
    browser_of_bob = world.client(Origin=PUBLIC_URL)
    form = {"username": "bob", "password": PASSWORD}
    logged = await browser_of_bob.post("/ui/login", data=form)
    assert logged.status_code == 303
    cookies = [c.lower() for c in logged.headers.get_list("set-cookie")]
    (device,) = [c for c in cookies if c.startswith(f"{browser.DEVICE_COOKIE}=")]
    assert "httponly" in device and "samesite=strict" in device
    assert "path=/ui/login;" in device  # the one page that reads it
    assert "secure" not in device  # the public URL is http here
    assert f"max-age={180 * 86400}" in device

    await browser_of_bob.post("/ui/logout")  # the device cookie outlives the session
    await pause(world, "bob")
    another_browser = world.client(Origin=PUBLIC_URL)
    assert (await another_browser.post("/ui/login", data=form)).status_code == 429
    again = await browser_of_bob.post("/ui/login", data=form)
    assert again.status_code == 303
    assert (await browser_of_bob.get("/ui/")).status_code == 200


async def test_the_device_cookie_is_secure_under_https(world: World):
    settings = Settings(database_url="", public_url="https://runway.example")
    response = Response()
    browser.remember_device(Context(settings, world.store), "the token", response)
    cookie = response.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


async def test_the_command_line_keeps_its_device_and_sends_it_back(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RUNWAY_CONFIG_DIR", str(tmp_path / "laptop"))
    await world.person("bob")

    def cli() -> Client:
        transport = httpx.ASGITransport(app=world.app, client=(HOME, 4321))
        return Client(PUBLIC_URL, transport=transport)

    async with cli() as client:
        first = await log_in_as_cli(client)
    saved = devices.load_device(PUBLIC_URL, "bob")
    assert saved == first["device"]
    assert (tmp_path / "laptop" / "devices.json").stat().st_mode & 0o777 == 0o600

    await pause(world, "bob")
    async with cli() as client:
        second = await log_in_as_cli(client)
    assert devices.load_device(PUBLIC_URL, "bob") == second["device"] != saved

    monkeypatch.setenv("RUNWAY_CONFIG_DIR", str(tmp_path / "elsewhere"))
    async with cli() as client:
        with pytest.raises(ClientError) as refused:
            await log_in_as_cli(client)
    assert refused.value.status == 429


async def log_in_as_cli(client: Client) -> dict[str, object]:
    """What `runway login` does with its client."""
    return await devices.log_in(client, "bob", PASSWORD)


async def test_the_served_openapi_document_describes_the_device(world: World):
    document = (await world.client().get("/api/v1/openapi.json")).json()
    login = document["paths"]["/api/v1/sessions"]["post"]
    asked = login["requestBody"]["content"]["application/json"]["schema"]
    assert "device" in asked["properties"] and asked["required"] == ["username", "password"]
    assert "device" in document["components"]["schemas"]["Session"]["properties"]
