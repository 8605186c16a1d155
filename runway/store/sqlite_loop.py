"""SQLite run on the event loop's own thread: one connection for reads, one for writes.

A query on a local SQLite file takes tens of microseconds; handing it to a thread and back
(aiosqlite) costs ten times that in thread switches, and more on a busy machine. So runway
runs SQLite synchronously where it is called. What could block the loop is bounded:

- Readers never wait in WAL mode. Their busy timeout is short (READ_BUSY_TIMEOUT) for the rare
  moments another process recovers the WAL.
- The writer never waits inside SQLite: its busy timeout is 0, and `begin()` retries
  `BEGIN IMMEDIATE` with `asyncio.sleep` while another process (`runway setup` beside the
  server) holds the write lock, up to a deadline.
- Commits do not fsync: `synchronous = NORMAL`, which in WAL mode keeps every committed
  transaction across a crash of the process (SIGKILL included) and keeps the file consistent
  across a power loss, where the last transactions before it may be lost. An fsync per commit
  (`FULL`) would stall the loop for milliseconds on every write.

Only runway.store.database uses this module.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool

READ_BUSY_TIMEOUT = 0.2
"""Seconds a read may block the loop waiting for SQLite (WAL readers almost never wait)."""
_BUSY = ("locked", "busy")


def _busy(error: BaseException) -> bool:
    orig = getattr(error, "orig", error)
    return any(word in str(orig).lower() for word in _BUSY)


def _connected(connection: Any, _record: Any) -> None:
    """Every connection: the driver's own transaction handling off (runway says `BEGIN
    IMMEDIATE` itself; a bare statement commits at once), foreign keys enforced (SQLite leaves
    them off per connection; ON DELETE CASCADE depends on them), commits without fsync."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


class SQLiteOnLoop:
    """The two connections of one SQLite database, used from the event loop's thread."""

    def __init__(self, url: sa.URL, wait: float) -> None:
        self.wait = wait
        """Seconds `begin()` waits for another process's write transaction."""
        url = url.set(drivername="sqlite+pysqlite")
        # check_same_thread off: an event loop may be closed and another opened on another
        # thread (tests); only one uses the connections at a time.
        self._reads = sa.create_engine(
            url,
            poolclass=NullPool,
            connect_args={"timeout": READ_BUSY_TIMEOUT, "check_same_thread": False},
        )
        self._writes = sa.create_engine(
            url, poolclass=NullPool, connect_args={"timeout": 0, "check_same_thread": False}
        )
        for engine in (self._reads, self._writes):
            event.listen(engine, "connect", _connected)
        self.reader: sa.Connection | None = None
        self.writer: sa.Connection | None = None

    def open(self) -> None:
        self.reader = self._reads.connect()
        self.writer = self._writes.connect()

    def close(self) -> None:
        for connection in (self.reader, self.writer):
            if connection is not None:
                connection.close()
        self.reader = self.writer = None

    async def begin(self) -> sa.Connection:
        """`BEGIN IMMEDIATE` on the writer: the database's write lock, waited for without
        blocking the loop while another process holds it (up to `wait` seconds)."""
        writer = self.writer
        assert writer is not None, "opened first"
        deadline = time.monotonic() + self.wait
        delay = 0.002
        while True:
            try:
                writer.exec_driver_sql("BEGIN IMMEDIATE")
                return writer
            except sa.exc.OperationalError as error:
                writer.rollback()
                if not _busy(error) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
