"""One instance's ear on Postgres: a dedicated connection that LISTENs to runway's channels and
turns what it hears into this process's wake-ups (runway.store.notify).

The connection is its own, not one of the engine's pool: a listening connection must stay
open and idle, and must not be handed to a query. When it drops (the server restarts, an
administrator or a failover ends it, the network goes away), the listener connects again with
backoff; notifications sent meanwhile are lost, so once it listens again it wakes every waiter
and tells signal subscribers `MISSED`. A quiet connection is checked every HEARTBEAT seconds, so
a connection that died silently is noticed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, Protocol, cast

import asyncpg  # type: ignore[import-untyped]

from runway.store.database import Db
from runway.store.errors import DatabaseUnavailable
from runway.store.notify import EVENTS, SIGNALS, EventHub, Signals, parse_event, parse_signal

log = logging.getLogger("runway.store")

HEARTBEAT = 10.0
"""Seconds between two checks that a quiet listening connection is still alive."""
HEARTBEAT_TIMEOUT = 5.0
"""Seconds the check may take before the connection is given up for dead."""
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 5.0
"""Seconds between two attempts to connect again: doubling from the first up to the max, with
jitter so that instances do not knock all at once after a server restart."""
APPLICATION_NAME = "runway listener"
"""How the connection shows in `pg_stat_activity`."""


class _Connection(Protocol):
    """What the listener uses of an asyncpg connection (asyncpg ships no types)."""

    async def add_listener(self, channel: str, callback: Any) -> None: ...
    def add_termination_listener(self, callback: Any) -> None: ...
    def get_server_pid(self) -> int: ...
    def is_closed(self) -> bool: ...
    async def fetchval(self, query: str) -> Any: ...
    async def close(self, *, timeout: float | None = None) -> None: ...
    def terminate(self) -> None: ...


class Listener:
    """LISTENs to `runway_events` and `runway_signals` for `hub` and `signals` until `close()`."""

    def __init__(self, db: Db, hub: EventHub, signals: Signals) -> None:
        self._db = db
        self._hub = hub
        self._signals = signals
        self._task: asyncio.Task[None] | None = None
        self._connection: _Connection | None = None
        self.connections = 0
        """How many times it has started listening (1 after `start`; more after reconnects)."""
        self.listening = asyncio.Event()
        """Set while a connection listens; cleared as soon as it is found gone."""

    @property
    def pid(self) -> int | None:
        """The server process of the listening connection (None while there is none)."""
        connection = self._connection
        if connection is None or connection.is_closed():
            return None
        return connection.get_server_pid()

    async def start(self) -> None:
        """Listen (the first connection is made here: DatabaseUnavailable when it cannot be),
        then keep listening in the background."""
        try:
            connection = await self._listen()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise DatabaseUnavailable(
                f"cannot listen for notifications on the database at {self._db.url}: {error}"
            ) from error
        self._task = asyncio.create_task(self._run(connection), name="runway store listener")

    async def close(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()

    async def _listen(self) -> _Connection:
        options = self._db.dedicated_options()
        options["server_settings"] = {"application_name": APPLICATION_NAME}
        connection = cast(_Connection, await asyncpg.connect(**options))
        try:
            await connection.add_listener(EVENTS, self._on_event)
            await connection.add_listener(SIGNALS, self._on_signal)
        except BaseException:
            connection.terminate()
            raise
        self._connection = connection
        self.connections += 1
        self.listening.set()
        return connection

    async def _run(self, connection: _Connection) -> None:
        """Wait while `connection` lives; when it is gone, connect again and wake everyone."""
        while True:
            await self._until_gone(connection)
            self.listening.clear()
            await self._drop()
            log.warning("the database's notification connection dropped; connecting again")
            connection = await self._reconnect()
            log.info("listening for notifications again (connection %d)", self.connections)
            # Whatever was sent while nobody listened is lost: everyone reads again.
            self._hub.notify_all()
            self._signals.missed()

    async def _until_gone(self, connection: _Connection) -> None:
        gone = asyncio.Event()
        connection.add_termination_listener(lambda _: gone.set())
        while not connection.is_closed():
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can lose a cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT):
                    await gone.wait()
                return
            try:
                async with asyncio.timeout(HEARTBEAT_TIMEOUT):
                    await connection.fetchval("SELECT 1")
            except Exception as error:  # whatever it was, this connection is done for
                log.debug("the notification connection failed its check: %s", error)
                return

    async def _reconnect(self) -> _Connection:
        delay = BACKOFF_FIRST
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                return await self._listen()
            except Exception as error:  # the server may be down a while: keep trying
                log.warning("cannot listen for notifications yet: %s", error)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        try:
            async with asyncio.timeout(HEARTBEAT_TIMEOUT):
                await connection.close()
        except Exception:
            connection.terminate()

    def _on_event(self, connection: object, pid: int, channel: str, payload: str) -> None:
        deployment_id = parse_event(payload)
        if deployment_id is not None:
            self._hub.notify(deployment_id)

    def _on_signal(self, connection: object, pid: int, channel: str, payload: str) -> None:
        signal = parse_signal(payload)
        if signal is not None:
            self._signals.deliver(signal)
