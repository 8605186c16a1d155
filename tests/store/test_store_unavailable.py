"""Driver errors that mean the database is away become DatabaseUnavailable (a 503 to clients);
errors that mean a bug or a conflict stay what they are."""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]
import pytest

from runway.store.database import Db
from runway.store.errors import DatabaseUnavailable
from runway.store.unavailable import unavailable


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("disk I/O error"),
    ],
)
def test_a_lost_or_busy_database_is_unavailable(error: BaseException) -> None:
    assert unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.IntegrityError("UNIQUE constraint failed: users.name"),
        sqlite3.OperationalError("no such table: nope"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        ValueError("a bug"),
    ],
)
def test_a_bug_or_a_conflict_is_not_hidden_as_unavailable(error: BaseException) -> None:
    assert not unavailable(error)


@pytest.mark.anyio
async def test_a_connection_the_server_ends_is_unavailable_through_sqlalchemy(
    store_url: str, backend: str
) -> None:
    """The real thing, not a hand-made exception: the driver's error reaches runway wrapped by
    SQLAlchemy, and is still seen for what it is."""
    if backend != "postgresql":
        pytest.skip("a server that ends connections is Postgres's")
    db = Db(store_url)
    await db.connect()
    try:
        with pytest.raises(DatabaseUnavailable):
            await db.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        assert (await db.fetch_one("SELECT 1")) is not None  # the pool lets the dead one go
    finally:
        await db.close()
