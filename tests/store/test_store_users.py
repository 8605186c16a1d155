"""Users and their SSH keys, on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runway.store import AlreadyExists, InvalidCursor, Role, Store, TokenKind
from tests.store.store_worlds import NOW, Raw, a_user

pytestmark = pytest.mark.anyio


async def test_a_user_is_created_read_and_counted(store: Store):
    assert await store.users.count() == 0
    ann = await store.users.create("ann", "argon2-hash", Role.MEMBER, quota={"requests.cpu": "4"})
    assert (ann.name, ann.role, ann.disabled, ann.quota) == (
        "ann",
        Role.MEMBER,
        False,
        {"requests.cpu": "4"},
    )
    assert ann.created_at.tzinfo is not None
    assert await store.users.count() == 1
    assert await store.users.get(ann.id) == ann
    assert await store.users.by_name("ann") == ann
    assert await store.users.get(ann.id + 1) is None
    assert await store.users.by_name("bob") is None
    assert (await store.users.create("bob", "h", Role.ADMIN)).quota == {}


async def test_a_taken_name_is_refused(store: Store):
    await a_user(store, "ann")
    with pytest.raises(AlreadyExists) as taken:
        await store.users.create("ann", "other", Role.ADMIN)
    assert taken.value.what == "user 'ann'"
    assert await store.users.count() == 1


async def test_passwords_are_stored_as_the_hash_given(store: Store):
    ann = await a_user(store)
    assert await store.users.password_hash(ann.id) == "hash-of-ann"
    await store.users.set_password(ann.id, "new-hash")
    assert await store.users.password_hash(ann.id) == "new-hash"
    assert await store.users.password_hash(ann.id + 1) is None


async def test_an_admin_changes_role_disabled_and_quota(store: Store):
    ann = await a_user(store)
    admin = await store.users.update(ann.id, role=Role.ADMIN)
    assert admin is not None
    assert admin.is_admin
    assert not admin.disabled
    disabled = await store.users.update(ann.id, disabled=True, quota={"limits.memory": "8Gi"})
    assert disabled is not None
    assert (disabled.role, disabled.disabled, disabled.quota) == (
        Role.ADMIN,
        True,
        {"limits.memory": "8Gi"},
    )
    assert await store.users.update(ann.id) == disabled
    assert await store.users.get(ann.id) == disabled
    assert await store.users.update(ann.id + 1, disabled=True) is None


async def test_users_are_listed_newest_first_a_page_at_a_time(store: Store):
    for name in ("u1", "u2", "u3", "u4", "u5"):
        await a_user(store, name)
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = await store.users.list(limit=2, cursor=cursor)
        seen += [user.name for user in page]
        pages += 1
        if cursor is None:
            break
    assert seen == ["u5", "u4", "u3", "u2", "u1"]
    assert pages == 3
    everyone, last = await store.users.list(limit=5, cursor=None)
    assert len(everyone) == 5
    assert last is None


async def test_a_cursor_that_was_not_handed_out_is_refused(store: Store):
    for bad in ("nonsense", "", "cncxOi0x", "MTI"):
        with pytest.raises(InvalidCursor, match="invalid cursor"):
            await store.users.list(limit=2, cursor=bad)


async def test_first_admin_needs_the_valid_setup_token_and_no_user(store: Store):
    await store.credentials.put_setup_token("good", NOW, NOW + timedelta(hours=24), replace=False)
    later = NOW + timedelta(minutes=5)
    assert await store.users.create_first_admin("eve", "h", "wrong", later) is None
    assert (
        await store.users.create_first_admin("eve", "h", "good", NOW + timedelta(hours=25)) is None
    )
    root = await store.users.create_first_admin("root", "h", "good", later)
    assert root is not None
    assert root.is_admin
    assert root.name == "root"
    assert await store.credentials.setup_token(later) is None, "the token is consumed"
    await store.credentials.put_setup_token(
        "again", later, later + timedelta(hours=1), replace=True
    )
    assert await store.users.create_first_admin("eve", "h", "again", later) is None, "a user exists"
    assert [u.name for u in (await store.users.list(limit=10, cursor=None))[0]] == ["root"]


async def test_racing_first_admins_make_exactly_one(store: Store, store_url: str):
    await store.credentials.put_setup_token("good", NOW, NOW + timedelta(hours=24), replace=False)
    other = await Store.open(store_url)  # a second instance on the same database
    try:
        results = await asyncio.gather(
            *(
                (store if i % 2 else other).users.create_first_admin(f"admin{i}", "h", "good", NOW)
                for i in range(10)
            )
        )
    finally:
        await other.close()
    made = [user for user in results if user is not None]
    assert len(made) == 1
    assert made[0].is_admin
    assert await store.users.count() == 1


async def test_ssh_keys_belong_to_one_user(store: Store):
    ann, bob = await a_user(store, "ann"), await a_user(store, "bob")
    key = await store.users.add_key(ann.id, "laptop", "ssh-ed25519 AAAA ann@laptop", "SHA256:abc")
    assert (key.user_id, key.name, key.fingerprint) == (ann.id, "laptop", "SHA256:abc")
    assert key.created_at.tzinfo is not None
    with pytest.raises(AlreadyExists) as taken:
        await store.users.add_key(bob.id, "stolen", "ssh-ed25519 AAAA ann@laptop", "SHA256:abc")
    assert taken.value.what == "ssh key 'SHA256:abc'"
    second = await store.users.add_key(ann.id, "desk", "ssh-ed25519 BBBB", "SHA256:def")
    assert await store.users.keys(ann.id) == [key, second]
    assert await store.users.keys(bob.id) == []
    assert await store.users.by_key("SHA256:abc") == ann
    assert await store.users.by_key("SHA256:zzz") is None
    assert not await store.users.delete_key(bob.id, key.id), "not bob's key"
    assert await store.users.delete_key(ann.id, key.id)
    assert not await store.users.delete_key(ann.id, key.id)
    assert await store.users.by_key("SHA256:abc") is None


async def test_deleting_a_user_takes_their_tokens_keys_and_invites(store: Store, raw: Raw):
    ann, bob = await a_user(store, "ann", Role.ADMIN), await a_user(store, "bob")
    await store.users.add_key(ann.id, "k", "ssh-ed25519 AAAA", "SHA256:ann")
    await store.credentials.create_invite(
        "nonce", Role.MEMBER, ann.id, NOW, NOW + timedelta(days=1)
    )
    await store.credentials.create_token(
        ann.id, TokenKind.API, "t", "ann-token", NOW + timedelta(days=1)
    )
    await store.credentials.create_token(
        bob.id, TokenKind.API, "t", "bob-token", NOW + timedelta(days=1)
    )
    assert await store.users.delete(ann.id)
    assert not await store.users.delete(ann.id)
    assert await store.users.get(ann.id) is None
    assert await store.users.by_key("SHA256:ann") is None
    assert await store.credentials.authenticate("ann-token", NOW) is None
    assert await store.credentials.authenticate("bob-token", NOW) is not None
    assert await raw.count("invites") == 0
    assert await raw.count("ssh_keys") == 0
    assert await raw.count("tokens") == 1
    # A new user never gets a deleted user's id.
    assert (await a_user(store, "carl")).id > bob.id
