"""Which driver errors mean the database cannot be used now (not a bug of the query): they
become DatabaseUnavailable, which callers answer with 503 and retry."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa

from runway.store.errors import DatabaseUnavailable

_LOST = (
    OSError,  # refused, reset, timed out (TimeoutError is one)
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed", a pool being closed
    asyncpg.exceptions.OperatorInterventionError,  # the server shutting down or restarting
    # Two transactions in each other's way (the server chose this one to fail): nothing was
    # written, and the same request again succeeds.
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)
_SQLITE_UNAVAILABLE = ("locked", "disk", "unable to open", "readonly", "busy")


def unavailable(error: BaseException) -> bool:
    """Whether a driver's exception means the database cannot be used now (not a bug of the
    query): translated to DatabaseUnavailable, which callers answer with 503 and retry.
    SQLAlchemy's wrappers are looked through to the driver's own exception."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa.exc.TimeoutError):  # no pooled connection came free in time
        return True
    seen: set[int] = set()
    found: BaseException | None = error
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        if isinstance(found, sqlite3.OperationalError):
            if any(word in str(found).lower() for word in _SQLITE_UNAVAILABLE):
                return True
        elif isinstance(found, _LOST):
            return True
        orig = getattr(found, "orig", None)
        found = orig if isinstance(orig, BaseException) else found.__cause__
    return False


@contextlib.contextmanager
def translated(url: str) -> Iterator[None]:
    """Driver errors meaning the database is away become DatabaseUnavailable, naming `url`."""
    try:
        yield
    except DatabaseUnavailable:
        raise
    except Exception as error:
        if unavailable(error):
            raise DatabaseUnavailable(
                f"the database at {url} cannot be used now: {reason(error)}"
            ) from error
        raise


def reason(error: BaseException) -> str:
    return str(error).strip() or type(error).__name__
