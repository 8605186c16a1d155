"""SQLite runs on the event loop's thread: another process's write transaction is waited for
without stopping the loop, and a wait past the limit is a clear DatabaseUnavailable."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from runway.store import Store, sqlite_url
from runway.store.errors import DatabaseUnavailable
from runway.store.tables import users

pytestmark = pytest.mark.anyio


def hold_write_lock(path: Path, seconds: float, holding: threading.Event) -> None:
    """What `runway setup` beside the server does: a write transaction in another connection."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    holding.set()
    threading.Event().wait(seconds)
    connection.execute("ROLLBACK")
    connection.close()


async def ticks_while(work: asyncio.Future[object]) -> int:
    """How many 10 ms ticks the loop ran while `work` went on: none when it was blocked."""
    count = 0
    while not work.done():
        await asyncio.sleep(0.01)
        count += 1
    return count


async def test_a_write_waits_for_another_process_without_stopping_the_loop(tmp_path: Path):
    store = await Store.open(sqlite_url(tmp_path))
    try:
        holding = threading.Event()
        holder = threading.Thread(
            target=hold_write_lock, args=(tmp_path / "runway.db", 0.5, holding)
        )
        holder.start()
        await asyncio.to_thread(holding.wait)
        write = asyncio.ensure_future(
            store.users.create_first_admin_directly("ada", "hash", datetime.now(UTC))
        )
        ticks = await ticks_while(write)
        await write
        holder.join()
        assert ticks >= 10, f"the loop ran only {ticks} ticks during a 0.5 s wait"
        assert await store.users.by_name("ada") is not None
    finally:
        await store.close()


async def test_a_write_lock_held_too_long_is_unavailable(tmp_path: Path):
    store = await Store.open(sqlite_url(tmp_path))
    store._db._sqlite.wait = 0.2  # type: ignore[union-attr]
    try:
        holding = threading.Event()
        holder = threading.Thread(
            target=hold_write_lock, args=(tmp_path / "runway.db", 1.0, holding)
        )
        holder.start()
        await asyncio.to_thread(holding.wait)
        with pytest.raises(DatabaseUnavailable, match="locked"):
            await store._db.execute(sa.delete(users))
        holder.join()
        await store._db.execute(sa.delete(users))  # free again: the next write goes through
    finally:
        await store.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
async def test_an_in_memory_database_is_refused_plainly(url: str):
    with pytest.raises(DatabaseUnavailable, match=r"in a file, give sqlite:///PATH"):
        await Store.open(url)
