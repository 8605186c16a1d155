"""Tokens, the setup token, invites, the signing key and failed logins, on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runway.store import AlreadyExists, Role, Store, TokenKind
from tests.store.store_worlds import NOW, Raw, a_user

pytestmark = pytest.mark.anyio
DAY = timedelta(days=1)


async def test_a_token_authenticates_its_user_until_it_expires(store: Store):
    ann = await a_user(store)
    token = await store.credentials.create_token(ann.id, TokenKind.SESSION, "cli", "h1", NOW + DAY)
    assert (token.user_id, token.kind, token.name, token.revoked_at) == (
        ann.id,
        TokenKind.SESSION,
        "cli",
        None,
    )
    assert token.expires_at == NOW + DAY
    assert await store.credentials.authenticate("h1", NOW) == (ann, token)
    assert await store.credentials.authenticate("h1", NOW + DAY - timedelta(microseconds=1))
    assert await store.credentials.authenticate("h1", NOW + DAY) is None
    assert await store.credentials.authenticate("unknown", NOW) is None


async def test_a_disabled_user_is_out_at_once(store: Store):
    ann = await a_user(store)
    await store.credentials.create_token(ann.id, TokenKind.BROWSER, "tab", "h1", NOW + DAY)
    await store.users.update(ann.id, disabled=True)
    assert await store.credentials.authenticate("h1", NOW) is None
    await store.users.update(ann.id, disabled=False)
    assert await store.credentials.authenticate("h1", NOW) is not None


async def test_a_token_hash_is_unique(store: Store):
    ann = await a_user(store)
    await store.credentials.create_token(ann.id, TokenKind.API, "a", "same", NOW + DAY)
    with pytest.raises(AlreadyExists):
        await store.credentials.create_token(ann.id, TokenKind.API, "b", "same", NOW + DAY)


async def test_tokens_are_listed_newest_first_and_revoked(store: Store):
    ann, bob = await a_user(store, "ann"), await a_user(store, "bob")
    api = await store.credentials.create_token(ann.id, TokenKind.API, "ci", "h1", NOW + DAY)
    session = await store.credentials.create_token(ann.id, TokenKind.SESSION, "s", "h2", NOW + DAY)
    other = await store.credentials.create_token(ann.id, TokenKind.API, "laptop", "h3", NOW + DAY)
    await store.credentials.create_token(bob.id, TokenKind.API, "bob", "h4", NOW + DAY)
    assert await store.credentials.tokens(ann.id) == [other, session, api]
    assert await store.credentials.tokens(ann.id, TokenKind.API) == [other, api]

    assert not await store.credentials.revoke_token(bob.id, api.id, NOW), "not bob's token"
    assert await store.credentials.revoke_token(ann.id, api.id, NOW)
    assert not await store.credentials.revoke_token(ann.id, api.id, NOW), "already revoked"
    assert await store.credentials.authenticate("h1", NOW) is None
    assert await store.credentials.tokens(ann.id, TokenKind.API) == [other]

    assert await store.credentials.revoke_all(ann.id, NOW, keep=session.id) == 1
    assert await store.credentials.tokens(ann.id) == [session]
    assert await store.credentials.revoke_all(ann.id, NOW) == 1
    assert await store.credentials.tokens(ann.id) == []
    assert len(await store.credentials.tokens(bob.id)) == 1


async def test_one_setup_token_for_the_installation(store: Store):
    assert await store.credentials.setup_token(NOW) is None
    expires = NOW + timedelta(hours=24)
    assert await store.credentials.put_setup_token("first", NOW, expires, replace=False)
    assert await store.credentials.setup_token(NOW) == (NOW, expires)
    later = NOW + timedelta(hours=1)
    assert not await store.credentials.put_setup_token("second", later, later + DAY, replace=False)
    assert await store.credentials.setup_token(later) == (NOW, expires), "the valid one stays"
    # Once it has expired, an instance that starts makes a new one.
    after = expires + timedelta(seconds=1)
    assert await store.credentials.setup_token(after) is None
    assert await store.credentials.put_setup_token("third", after, after + DAY, replace=False)
    assert await store.credentials.setup_token(after) == (after, after + DAY)
    # `runway setup --new-token` replaces a valid one.
    assert await store.credentials.put_setup_token("fourth", after, after + DAY, replace=True)
    assert await store.users.create_first_admin("root", "h", "third", after) is None
    assert await store.users.create_first_admin("root", "h", "fourth", after) is not None


async def test_instances_starting_together_store_one_setup_token(store: Store, store_url: str):
    other = await Store.open(store_url)
    try:
        stored = await asyncio.gather(
            *(
                (store if i % 2 else other).credentials.put_setup_token(
                    f"token{i}", NOW, NOW + DAY, replace=False
                )
                for i in range(8)
            )
        )
    finally:
        await other.close()
    assert stored.count(True) == 1
    winner = f"token{stored.index(True)}"
    assert await store.users.create_first_admin("root", "h", winner, NOW) is not None


async def test_an_invite_makes_one_member_once(store: Store):
    admin = await a_user(store, "root", Role.ADMIN)
    invite = await store.credentials.create_invite("nonce", Role.MEMBER, admin.id, NOW, NOW + DAY)
    assert (invite.role, invite.created_by, invite.used_at) == (Role.MEMBER, admin.id, None)
    assert (invite.created_at, invite.expires_at) == (NOW, NOW + DAY)
    use = store.credentials.use_invite
    assert await use(invite.id, "wrong-nonce", NOW, "eve", "h") is None
    assert await use(invite.id + 1, "nonce", NOW, "eve", "h") is None
    assert await use(invite.id, "nonce", NOW + DAY, "eve", "h") is None, "expired"
    ann = await use(invite.id, "nonce", NOW, "ann", "h-ann")
    assert ann is not None
    assert ann.role is Role.MEMBER
    assert ann.name == "ann"
    assert await store.users.password_hash(ann.id) == "h-ann"
    assert await use(invite.id, "nonce", NOW, "bob", "h") is None, "used"
    assert await store.users.count() == 2


async def test_an_invite_used_by_many_at_once_makes_one_member(store: Store, raw: Raw):
    admin = await a_user(store, "root", Role.ADMIN)
    invite = await store.credentials.create_invite("n", Role.ADMIN, admin.id, NOW, NOW + DAY)
    made = await asyncio.gather(
        *(store.credentials.use_invite(invite.id, "n", NOW, f"p{i}", "h") for i in range(10))
    )
    members = [user for user in made if user is not None]
    assert len(members) == 1
    assert members[0].role is Role.ADMIN
    assert await raw.fetch("SELECT used_by FROM invites") == [(members[0].id,)]


async def test_an_invite_for_a_taken_name_stays_unused(store: Store):
    admin = await a_user(store, "root", Role.ADMIN)
    invite = await store.credentials.create_invite("n", Role.MEMBER, admin.id, NOW, NOW + DAY)
    with pytest.raises(AlreadyExists) as taken:
        await store.credentials.use_invite(invite.id, "n", NOW, "root", "h")
    assert taken.value.what == "user 'root'"
    assert await store.credentials.use_invite(invite.id, "n", NOW, "ann", "h") is not None


async def test_the_signing_key_is_made_once_for_every_instance(store: Store, store_url: str):
    others = [await Store.open(store_url) for _ in range(2)]
    try:
        keys = await asyncio.gather(
            *(s.credentials.signing_key() for s in [store, *others, store, *others])
        )
    finally:
        for other in others:
            await other.close()
    assert len(keys[0]) == 32
    assert len(set(keys)) == 1
    assert await store.credentials.signing_key() == keys[0]


async def test_failed_logins_are_counted_per_key(store: Store):
    times = [NOW + timedelta(seconds=s) for s in (30, 10, 20)]
    for at in times:
        await store.credentials.record_failure(["user:ann", "ip:192.0.2.1"], at)
    await store.credentials.record_failure(["ip:192.0.2.1"], NOW + timedelta(seconds=40))
    await store.credentials.record_failure([], NOW)
    assert await store.credentials.failures("user:ann", NOW) == sorted(times)
    assert (
        await store.credentials.failures("user:ann", NOW + timedelta(seconds=20))
        == sorted(times)[1:]
    )
    assert len(await store.credentials.failures("ip:192.0.2.1", NOW)) == 4
    await store.credentials.clear_failures("user:ann")
    assert await store.credentials.failures("user:ann", NOW) == []
    swept = await store.credentials.sweep(NOW + timedelta(seconds=25))
    assert swept["login_attempts"] == 2
    assert await store.credentials.failures("ip:192.0.2.1", NOW) == [
        NOW + timedelta(seconds=30),
        NOW + timedelta(seconds=40),
    ]
    assert (await store.credentials.sweep(NOW))["login_attempts"] == 0


async def test_the_sweep_forgets_only_what_can_no_longer_be_used(store: Store):
    ann = await a_user(store, "ann", Role.ADMIN)
    make = store.credentials.create_token
    await make(ann.id, TokenKind.BROWSER, "old tab", "h1", NOW + DAY)
    revoked = await make(ann.id, TokenKind.API, "revoked", "h2", NOW + 30 * DAY)
    await store.credentials.revoke_token(ann.id, revoked.id, NOW)
    live = await make(ann.id, TokenKind.API, "ci", "h3", NOW + 30 * DAY)
    await store.credentials.create_invite("n1", Role.MEMBER, ann.id, NOW, NOW + DAY)
    kept = await store.credentials.create_invite("n2", Role.MEMBER, ann.id, NOW, NOW + 9 * DAY)

    assert await store.credentials.sweep(NOW) == {"login_attempts": 0, "tokens": 0, "invites": 0}
    assert await store.credentials.sweep(NOW + 2 * DAY) == {
        "login_attempts": 0,
        "tokens": 2,
        "invites": 1,
    }
    assert await store.credentials.tokens(ann.id) == [live]
    assert await store.credentials.use_invite(kept.id, "n2", NOW, "bob", "h") is not None
