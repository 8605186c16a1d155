"""Worlds for the API's tests: a server on SQLite or on a fresh Postgres database, with people."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from runway.auth import LoginLimits, PasswordHasher
from runway.http import Settings, create_app
from runway.store import Store, sqlite_url
from tests.http.worlds import PUBLIC_URL, World

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _postgres_database() -> str:
    name = f"runway_http_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def _drop(name: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@asynccontextmanager
async def a_postgres_database() -> AsyncIterator[str]:
    """The URL of a fresh Postgres database, dropped afterwards."""
    name = await _postgres_database()
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        await _drop(name)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """Every test of the API runs on the embedded default and on Postgres."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    async with a_postgres_database() as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with a_postgres_database() as url:
        yield url


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    settings = Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        hasher=PasswordHasher.cheap(),
        login_limits=LoginLimits(per_user=3, per_address=5),
    )
    store = await Store.open(database_url)
    world = World(store, settings, create_app(settings, store))
    try:
        yield world
    finally:
        for client in world.clients:
            await client.aclose()
        await store.close()
