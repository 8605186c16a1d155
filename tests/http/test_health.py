"""/readyz says 503 while the database is behind this runway, or unreachable (and 200 when it is
ahead: an older instance keeps serving through a rolling update); /healthz says whether the
first admin is still to be made, which the dashboard's first-run check reads."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from runway.client import Client
from runway.http import create_app
from runway.store import Store
from runway.store.migrations import _ADVISORY_LOCK_KEY, LATEST
from runway.store.records import Role
from tests.http.conftest import _settings
from tests.http.worlds import World

pytestmark = pytest.mark.anyio


async def test_ready_while_the_database_answers(world: World):
    assert (await world.client().get("/readyz")).json() == {"status": "ready"}


@asynccontextmanager
async def on_postgres(url: str) -> AsyncIterator[World]:
    store = await Store.open(url)
    world = World(store, _settings(url), create_app(_settings(url), store))
    try:
        yield world
    finally:
        await world.close()
        await store.close()


async def test_ready_while_another_instance_migrates(postgres_url: str):
    """A newer runway migrating (it holds the lock) does not take this one out of service:
    its schema stays what it needs, since migrations only add."""
    migrating = await asyncpg.connect(postgres_url)
    try:
        async with on_postgres(postgres_url) as world:
            await migrating.execute(f"SELECT pg_advisory_lock({_ADVISORY_LOCK_KEY})")
            assert (await world.client().get("/readyz")).json() == {"status": "ready"}
    finally:
        await migrating.close()


async def _set_version(world: World, version: int) -> None:
    url = world.settings.database_url
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        with sqlite3.connect(path) as connection:
            connection.execute("DELETE FROM schema_version WHERE version > ?", (version,))
            if version > LATEST:
                connection.execute(
                    "INSERT INTO schema_version VALUES (?, '2026-01-01 00:00:00')", (version,)
                )
        return
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("DELETE FROM schema_version WHERE version > $1", version)
        if version > LATEST:
            await connection.execute("INSERT INTO schema_version VALUES ($1, now())", version)
    finally:
        await connection.close()


async def test_a_database_behind_this_runway_is_not_ready_one_ahead_is(world: World):
    await _set_version(world, LATEST + 1)
    assert (await world.client().get("/readyz")).status_code == 200, "a newer runway migrated"
    await _set_version(world, LATEST - 1)
    behind = await world.client().get("/readyz")
    assert behind.status_code == 503
    assert f"needs {LATEST}" in behind.json()["error"]["message"]


async def test_not_ready_once_the_database_is_gone(world: World):
    await world.store.close()
    gone = await world.client().get("/readyz")
    assert gone.status_code == 503
    assert gone.json()["error"]["message"] == "the database is not reachable"
    alive = await world.client().get("/healthz")
    assert alive.status_code == 200, "liveness needs no database"
    assert alive.json()["setup_needed"] is None


async def test_healthz_says_whether_setup_is_needed_and_the_client_reads_it(world: World):
    transport = httpx.ASGITransport(app=world.app)
    async with Client("http://runway.test", transport=transport) as client:
        assert (await world.client().get("/healthz")).json()["setup_needed"] is True
        assert await client.needs_setup() is True
        await world.person("root", Role.ADMIN)
        assert (await world.client().get("/healthz")).json()["setup_needed"] is False
        assert await client.needs_setup() is False
