"""Worlds for the API's tests: a server on SQLite or on a fresh Postgres database, with people."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from runway.auth import LoginLimits, PasswordHasher
from runway.deploy.connection import connect
from runway.http import Settings, create_app
from runway.simcluster import SimCluster
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


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        hasher=PasswordHasher.cheap(),
        login_limits=LoginLimits(per_user=3, per_address=5),
    )


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    """A server without a cluster (as `runway serve` is when it finds none)."""
    settings = _settings(database_url)
    store = await Store.open(database_url)
    world = World(store, settings, create_app(settings, store))
    try:
        yield world
    finally:
        await world.close()
        await store.close()


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    """The simulated cluster in this process, its containers ready at once."""
    cluster = SimCluster(namespace_delay=0.0)
    cluster.behaviour.ready_delay = 0.0
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def cluster_world(database_url: str, sim: SimCluster, tmp_path: Any) -> AsyncIterator[World]:
    """A server whose deployments go to the simulated cluster `world.sim`."""
    settings = _settings(database_url)
    kubeconfig = tmp_path / "sim.kubeconfig"
    sim.write_kubeconfig(kubeconfig)
    store = await Store.open(database_url)
    cluster = await connect(str(kubeconfig))
    world = World(store, settings, create_app(settings, store, cluster=cluster), sim=sim)
    try:
        yield world
    finally:
        await world.close()
        await cluster.close()
        await store.close()
