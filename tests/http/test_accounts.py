"""First setup, logging in, tokens and invites, as people go through them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from runway.auth import token_hash
from runway.store.records import Role
from tests.http.worlds import PASSWORD, World, dump_database

pytestmark = pytest.mark.anyio


async def test_the_first_admin_needs_the_setup_token(world: World):
    now = datetime.now(UTC)
    await world.store.credentials.put_setup_token(
        token_hash("rw_the-setup-token"), now, now + timedelta(hours=24), replace=False
    )
    anyone = world.client()
    body = {"username": "ann", "password": PASSWORD}
    wrong = await anyone.post("/api/v1/setup", json={**body, "setup_token": "rw_guess"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_setup_token"
    assert await world.store.users.count() == 0

    done = await anyone.post("/api/v1/setup", json={**body, "setup_token": "rw_the-setup-token"})
    assert done.status_code == 201
    assert done.json()["user"] == {**done.json()["user"], "name": "ann", "role": "admin"}
    me = await world.client(done.json()["token"]).get("/api/v1/users/me")
    assert me.json()["name"] == "ann"

    again = await anyone.post("/api/v1/setup", json={**body, "setup_token": "rw_the-setup-token"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_set_up"


async def test_an_expired_setup_token_is_refused(world: World):
    past = datetime.now(UTC) - timedelta(hours=25)
    await world.store.credentials.put_setup_token(
        token_hash("rw_old"), past, past + timedelta(hours=24), replace=True
    )
    answer = await world.client().post(
        "/api/v1/setup", json={"setup_token": "rw_old", "username": "ann", "password": PASSWORD}
    )
    assert answer.status_code == 401


async def test_setup_refuses_weak_passwords_and_bad_names_with_every_problem(world: World):
    answer = await world.client().post(
        "/api/v1/setup", json={"setup_token": "x", "username": "Ann!", "password": "short", "x": 1}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["details"] == [
        {"path": "x", "message": "unknown field 'x'"},
        {
            "path": "username",
            "message": "'Ann!' is not a valid user name: use lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-'",
        },
        {"path": "password", "message": "the password must be at least 10 characters long"},
    ]


async def test_logging_in_gives_a_token_that_works(world: World):
    await world.person("bob")
    answer = await world.client().post(
        "/api/v1/sessions", json={"username": "bob", "password": PASSWORD}
    )
    assert answer.status_code == 201
    token = answer.json()["token"]
    assert token.startswith("rw_")
    assert (await world.client(token).get("/api/v1/users/me")).json()["name"] == "bob"


async def test_wrong_passwords_are_refused_then_slowed_down(world: World):
    await world.person("bob")
    anyone = world.client()
    for _ in range(3):  # the test world allows 3 failures per user
        answer = await anyone.post("/api/v1/sessions", json={"username": "bob", "password": "nope"})
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "wrong user name or password"
    limited = await anyone.post("/api/v1/sessions", json={"username": "bob", "password": PASSWORD})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 30


async def test_unknown_users_answer_like_wrong_passwords(world: World):
    answer = await world.client().post(
        "/api/v1/sessions", json={"username": "nobody", "password": PASSWORD}
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "wrong user name or password"


async def test_failures_from_one_address_are_limited_across_users(world: World):
    anyone = world.client()
    for name in ("a1", "a2", "a3", "a4", "a5"):
        await anyone.post("/api/v1/sessions", json={"username": name, "password": "nope"})
    answer = await anyone.post("/api/v1/sessions", json={"username": "a6", "password": "nope"})
    assert answer.status_code == 429


async def test_a_disabled_user_is_out_at_once(world: World):
    admin = await world.as_person("root", Role.ADMIN)
    _, token = await world.person("bob")
    assert (await world.client(token).get("/api/v1/users/me")).status_code == 200
    assert (await admin.patch("/api/v1/users/bob", json={"disabled": True})).status_code == 200
    assert (await world.client(token).get("/api/v1/users/me")).status_code == 401
    login = await world.client().post(
        "/api/v1/sessions", json={"username": "bob", "password": PASSWORD}
    )
    assert login.status_code == 401
    assert login.json()["error"]["code"] == "disabled"


async def test_a_quota_takes_zero_and_refuses_what_is_no_quantity(world: World):
    admin = await world.as_person("root", Role.ADMIN)
    await world.person("bob")
    frozen = await admin.patch(
        "/api/v1/users/bob", json={"quota": {"pods": "0", "requests.cpu": "500m"}}
    )
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["quota"]["pods"] == "0"
    for amount in ("-1", "lots", ""):
        refused = await admin.patch("/api/v1/users/bob", json={"quota": {"pods": amount}})
        assert refused.status_code == 422, amount


async def test_personal_tokens_are_shown_once_and_can_be_revoked(world: World):
    bob = await world.as_person("bob")
    made = await bob.post("/api/v1/tokens", json={"name": "ci", "expires_in_days": 30})
    assert made.status_code == 201
    token = made.json()["token"]
    listed = (await bob.get("/api/v1/tokens")).json()["items"]
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("token" not in t for t in listed)
    assert (await world.client(token).get("/api/v1/users/me")).status_code == 200
    assert (await bob.delete(f"/api/v1/tokens/{made.json()['id']}")).status_code == 204
    assert (await world.client(token).get("/api/v1/users/me")).status_code == 401
    assert (await bob.delete(f"/api/v1/tokens/{made.json()['id']}")).status_code == 404


async def test_an_expired_token_is_refused(world: World):
    user, _ = await world.person("bob")
    old = await world.token(user, expires_in=timedelta(seconds=-1))
    answer = await world.client(old).get("/api/v1/users/me")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_invite_makes_one_account(world: World):
    admin = await world.as_person("root", Role.ADMIN)
    invite = await admin.post("/api/v1/invites", json={})
    assert invite.status_code == 201
    url = invite.json()["url"]
    assert url.startswith("http://runway.test/ui/invite/")
    token = url.rsplit("/", 1)[1]
    anyone = world.client()
    joined = await anyone.post(
        f"/api/v1/invites/{token}", json={"username": "cat", "password": PASSWORD}
    )
    assert joined.status_code == 201
    assert joined.json()["user"]["role"] == "member"
    again = await anyone.post(
        f"/api/v1/invites/{token}", json={"username": "dan", "password": PASSWORD}
    )
    assert again.status_code == 404
    forged = await anyone.post(
        f"/api/v1/invites/{token[:-2]}xx", json={"username": "eve", "password": PASSWORD}
    )
    assert forged.status_code == 404
    assert await world.store.users.by_name("dan") is None


async def test_members_cannot_invite_or_see_users(world: World):
    bob = await world.as_person("bob")
    assert (await bob.post("/api/v1/invites", json={})).status_code == 404
    assert (await bob.get("/api/v1/users")).status_code == 404


async def test_changing_the_password_ends_other_sessions(world: World):
    user, first = await world.person("bob")
    second = await world.token(user)
    changed = await world.client(first).patch(
        "/api/v1/users/me", json={"current_password": PASSWORD, "password": "a new long password"}
    )
    assert changed.status_code == 200
    assert (await world.client(first).get("/api/v1/users/me")).status_code == 200
    assert (await world.client(second).get("/api/v1/users/me")).status_code == 401
    wrong = await world.client(first).patch(
        "/api/v1/users/me", json={"current_password": "not it", "password": "another long one"}
    )
    assert wrong.status_code == 403


async def test_no_password_or_token_is_stored_in_clear(world: World, database_url: str):
    bob = await world.as_person("bob")
    token = (await bob.post("/api/v1/tokens", json={"name": "ci"})).json()["token"]
    dump = await dump_database(database_url)
    assert "correct horse" not in dump.lower()
    assert PASSWORD not in dump
    assert token not in dump


async def test_a_burst_of_guesses_sent_at_once_is_limited_too(world: World):
    await world.person("bob")
    anyone = world.client()
    answers = await asyncio.gather(
        *(
            anyone.post("/api/v1/sessions", json={"username": "bob", "password": "nope"})
            for _ in range(12)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    # The test world allows 3 failures per user: the rest of the burst is refused unchecked.
    assert statuses.count(401) == 3, statuses
    assert statuses.count(429) == 9, statuses


async def test_every_forwarded_line_is_read_behind_a_trusted_proxy(world: World):
    from dataclasses import replace

    from runway.auth import parse_networks
    from runway.http import create_app

    settings = replace(world.settings, trusted_proxies=parse_networks("203.0.113.0/24"))
    world.app = create_app(settings, world.store)
    anyone = world.client()
    for i in range(6):  # the test world allows 5 failures per address
        answer = await anyone.post(
            "/api/v1/sessions",
            json={"username": f"u{i}", "password": "nope"},
            headers=[("X-Forwarded-For", f"198.51.100.{i}"), ("X-Forwarded-For", "192.0.2.9")],
        )
    assert answer.status_code == 429


async def test_an_invite_from_an_admin_who_was_disabled_no_longer_works(world: World):
    first = await world.as_person("root", Role.ADMIN)
    second = await world.as_person("bee", Role.ADMIN)
    token = (await second.post("/api/v1/invites", json={"role": "admin"})).json()["token"]
    assert (await first.patch("/api/v1/users/bee", json={"disabled": True})).status_code == 200
    answer = await world.client().post(
        f"/api/v1/invites/{token}", json={"username": "mallory", "password": PASSWORD}
    )
    assert answer.status_code == 404
    assert await world.store.users.by_name("mallory") is None


@pytest.mark.parametrize(
    "body",
    [{"username": "a\u0000b", "password": PASSWORD}, {"username": "\ud800", "password": PASSWORD}],
    ids=["NUL", "lone surrogate"],
)
async def test_text_no_database_can_keep_is_refused(world: World, body):
    answer = await world.client().post(
        "/api/v1/sessions",
        content=json.dumps(body, ensure_ascii=True),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
