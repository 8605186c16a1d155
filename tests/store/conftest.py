"""Worlds for the store's tests: every test that takes `store` runs on SQLite and on Postgres.

Postgres: one fresh database per test session (`runway_test_<random>`, made through asyncpg on
the `postgres` database) shared by the `store` tests and emptied before each, plus fresh
databases on demand for tests that need an unmigrated one; all are dropped at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runway.store import Store, sqlite_url
from tests.store.store_worlds import PG_HOST, PG_PORT, Postgres, Raw, in_thread, pg_reachable


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if not pg_reachable():
        pytest.skip(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}")
    server = Postgres()
    yield server
    in_thread(server.drop_all())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def fresh_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty, never migrated database of `backend`."""
    if backend == "sqlite":
        return sqlite_url(tmp_path / "data")
    postgres: Postgres = request.getfixturevalue("postgres")
    return await postgres.new_database()


@pytest.fixture
async def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated, empty database of `backend`."""
    if backend == "sqlite":
        return sqlite_url(tmp_path / "data")
    postgres: Postgres = request.getfixturevalue("postgres")
    return await postgres.shared_database()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def raw(store_url: str) -> Raw:
    return Raw(store_url)
