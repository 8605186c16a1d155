"""Environments and the namespaces they get, on both backends."""

from __future__ import annotations

import asyncio
import re

import pytest

from runway.store import AlreadyExists, OnFailure, Role, Store, namespace_candidates
from tests.store.store_worlds import NOW, Raw, a_deployment, a_user, an_environment

pytestmark = pytest.mark.anyio
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


async def test_an_environment_is_created_read_updated_and_deleted(store: Store):
    ann = await a_user(store)
    staging = await store.environments.create(ann, "staging", NOW)
    assert (staging.owner_id, staging.owner, staging.name) == (ann.id, "ann", "staging")
    assert (staging.namespace, staging.on_failure, staging.created_at) == (
        "rw-ann-staging",
        OnFailure.MANUAL,
        NOW,
    )
    assert await store.environments.get(ann.id, "staging") == staging
    assert await store.environments.by_id(staging.id) == staging
    assert await store.environments.get(ann.id, "production") is None
    assert await store.environments.by_id(staging.id + 1) is None

    changed = await store.environments.update(staging.id, on_failure=OnFailure.ROLLBACK)
    assert changed is not None
    assert changed.on_failure is OnFailure.ROLLBACK
    assert await store.environments.get(ann.id, "staging") == changed
    assert await store.environments.update(staging.id + 1, on_failure=OnFailure.MANUAL) is None

    assert await store.environments.delete(staging.id)
    assert not await store.environments.delete(staging.id)
    assert await store.environments.get(ann.id, "staging") is None


async def test_names_are_unique_per_owner(store: Store):
    ann, bob = await a_user(store, "ann"), await a_user(store, "bob")
    await an_environment(store, ann, "staging")
    with pytest.raises(AlreadyExists) as taken:
        await an_environment(store, ann, "staging")
    assert taken.value.what == "environment 'staging' of user 'ann'"
    theirs = await an_environment(store, bob, "staging")
    assert theirs.namespace == "rw-bob-staging"


async def test_names_that_would_make_the_same_namespace_get_different_ones(store: Store):
    first = await an_environment(store, await a_user(store, "a-b"), "c")
    second = await an_environment(store, await a_user(store, "a"), "b-c")
    assert first.namespace == "rw-a-b-c"
    assert second.namespace.startswith("rw-a-b-c-")
    assert DNS_LABEL.fullmatch(second.namespace)
    assert second.namespace != first.namespace


async def test_long_names_are_shortened_to_unique_dns_labels(store: Store):
    owner = await a_user(store, "someone-with-a-very-long-user-name-indeed")
    made = [
        await an_environment(store, owner, f"production-in-the-eu-west-region-number-{i}")
        for i in range(3)
    ]
    namespaces = [environment.namespace for environment in made]
    assert len(set(namespaces)) == 3
    for namespace in namespaces:
        assert len(namespace) <= 63, namespace
        assert DNS_LABEL.fullmatch(namespace), namespace
        assert namespace.startswith("rw-someone-with-a-very-long-user-name")


def test_namespace_candidates_are_dns_labels_of_at_most_63_characters():
    assert next(namespace_candidates("ann", "staging")) == "rw-ann-staging"
    exactly = "e" * (63 - len("rw-ann-"))
    assert next(namespace_candidates("ann", exactly)) == f"rw-ann-{exactly}"
    for user, env in [
        ("ann", exactly + "x"),
        ("Ann.Smith", "Staging_1"),
        ("ann", "end-"),
        ("x" * 100, "y" * 100),
        ("ann", "ünïcode"),
    ]:
        candidates = [c for _, c in zip(range(5), namespace_candidates(user, env), strict=False)]
        assert len(set(candidates)) == 5
        for candidate in candidates:
            assert len(candidate) <= 63, candidate
            assert DNS_LABEL.fullmatch(candidate), candidate
    # The hash tells apart names that read the same once shortened.
    one = next(namespace_candidates("a-b", "c" * 70))
    two = next(namespace_candidates("a", "b-" + "c" * 68))
    assert one != two


async def test_environments_are_listed_newest_first_per_owner_or_for_everyone(store: Store):
    ann, bob = await a_user(store, "ann"), await a_user(store, "bob")
    for name in ("e1", "e2", "e3"):
        await an_environment(store, ann, name)
    await an_environment(store, bob, "b1")

    seen, cursor = [], None
    while True:
        page, cursor = await store.environments.list(ann.id, limit=2, cursor=cursor)
        assert len(page) <= 2
        seen += [environment.name for environment in page]
        if cursor is None:
            break
    assert seen == ["e3", "e2", "e1"]
    everyone, cursor = await store.environments.list(None, limit=10, cursor=None)
    assert [(e.owner, e.name) for e in everyone] == [
        ("bob", "b1"),
        ("ann", "e3"),
        ("ann", "e2"),
        ("ann", "e1"),
    ]
    assert cursor is None
    assert await store.environments.list(bob.id, limit=1, cursor=None) == ([everyone[0]], None)


async def test_deleting_an_environment_takes_its_deployments(store: Store, raw: Raw):
    ann = await a_user(store)
    staging, production = (
        await an_environment(store, ann, "s"),
        await an_environment(store, ann, "p"),
    )
    doomed, _ = await a_deployment(store, staging, ann)
    kept, _ = await a_deployment(store, production, ann)
    await raw.execute(
        f"INSERT INTO host_claims (host, environment_id, app) VALUES ('blog.example', {staging.id}, 'blog')"
    )
    await raw.execute(
        f"INSERT INTO leases (deployment_id, owner, epoch, expires_at) VALUES ({doomed.id}, 'i1', 1, '2030-01-01 00:00:00')"
    )
    assert await store.environments.delete(staging.id)
    assert await store.deployments.get(doomed.id) is None
    assert await store.deployments.events(doomed.id) == []
    assert await store.deployments.get(kept.id) is not None
    for table in ("steps", "events"):
        assert await raw.fetch(f"SELECT DISTINCT deployment_id FROM {table}") == [(kept.id,)]
    assert await raw.count("host_claims") == 0
    assert await raw.count("leases") == 0


async def test_deleting_a_user_takes_their_environments_and_deployments(store: Store, raw: Raw):
    ann, admin = await a_user(store, "ann"), await a_user(store, "root", Role.ADMIN)
    staging = await an_environment(store, ann)
    mine, _ = await a_deployment(store, staging, ann)
    for_ann, _ = await a_deployment(store, staging, admin, app="wiki")
    admins = await an_environment(store, admin, "ops")
    # An admin's deployment in ann's environment goes with ann's environment...
    survivor, _ = await a_deployment(store, admins, ann)
    assert await store.users.delete(ann.id)
    assert await store.environments.by_id(staging.id) is None
    assert await store.deployments.get(mine.id) is None
    assert await store.deployments.get(for_ann.id) is None
    # ...while what ann deployed in someone else's environment stays theirs, naming ann's id.
    kept = await store.deployments.get(survivor.id)
    assert kept is not None
    assert kept.created_by == ann.id
    assert await raw.count("environments") == 1
    assert await raw.fetch("SELECT DISTINCT deployment_id FROM steps") == [(survivor.id,)]


async def test_instances_creating_environments_at_once_all_succeed(store: Store, store_url: str):
    # Each create reads (is the name or namespace taken?) before it writes: on SQLite a plain
    # BEGIN would fail here at once with `database is locked`.
    owners = [await a_user(store, f"u{i}") for i in range(4)]
    other = await Store.open(store_url)
    try:
        made = await asyncio.gather(
            *(
                (store if i % 2 else other).environments.create(owners[i % 4], f"e{i}", NOW)
                for i in range(24)
            )
        )
    finally:
        await other.close()
    assert len({environment.namespace for environment in made}) == 24
    everyone, _ = await store.environments.list(None, limit=100, cursor=None)
    assert len(everyone) == 24
