"""Driver errors that mean the database is away become DatabaseUnavailable (a 503 to clients);
errors that mean a bug or a conflict stay what they are."""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]
import pytest

from runway.store.database import unavailable


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
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
