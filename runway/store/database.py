"""The connection: `databases` over SQLite (aiosqlite) or Postgres (asyncpg), and write transactions
that behave the same on both.

Only this module talks to `databases` directly; the query modules go through `Db`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import asyncpg  # type: ignore[import-untyped]
import databases
import sqlalchemy as sa
from databases.interfaces import Record
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from runway.store.errors import DatabaseUnavailable

Backend = Literal["sqlite", "postgresql"]
Row = Record

SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for another process's write transaction (`runway setup` while
the server runs): within one process the write lock already queues writers."""

CONNECT_TIMEOUT = 10.0
POSTGRES_POOL = {"min_size": 1, "max_size": 10}

_LOST = (
    OSError,  # refused, reset, timed out (TimeoutError is one)
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed", a pool being closed
    asyncpg.exceptions.OperatorInterventionError,  # the server shutting down or restarting
)
_SQLITE_UNAVAILABLE = ("locked", "disk", "unable to open", "readonly", "busy")


def unavailable(error: BaseException) -> bool:
    """Whether a driver's exception means the database cannot be used now (not a bug of the
    query): translated to DatabaseUnavailable, which callers answer with 503 and retry."""
    if isinstance(error, sqlite3.OperationalError):
        return any(word in str(error).lower() for word in _SQLITE_UNAVAILABLE)
    return isinstance(error, _LOST)


@contextlib.contextmanager
def _translated(url: str) -> Iterator[None]:
    """Driver errors meaning the database is away become DatabaseUnavailable, naming `url`."""
    try:
        yield
    except DatabaseUnavailable:
        raise
    except Exception as error:
        if unavailable(error):
            raise DatabaseUnavailable(
                f"the database at {url} cannot be used now: {_reason(error)}"
            ) from error
        raise


# SQLite and Postgres both cap bind parameters per statement (32766 and 32767).
MAX_PARAMS = 30_000


def sqlite_url(data_dir: Path) -> str:
    """The embedded default: `runway.db` in `data_dir`, made (owner-only) when missing."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return "sqlite:///" + quote(str(data_dir / "runway.db"))


def safe_url(url: str) -> str:
    """`url` with any password replaced by `***`, fit for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return re.sub(r"//[^@/]*@", "//***@", url)
    result = url
    if password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        result = result.replace(parts.netloc, f"{userinfo.split(':', 1)[0]}:***@{host}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        hidden = [(k, "***" if k.lower() == "password" else v) for k, v in pairs]
        if hidden != pairs:
            result = result.replace("?" + parts.query, "?" + urlencode(hidden, safe="*"), 1)
    return result


def backend_of(url: str) -> Backend:
    """Which database `url` names; DatabaseUnavailable for anything runway does not speak."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return "sqlite"
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return "postgresql"
    raise DatabaseUnavailable(
        f"cannot use the database at {safe_url(url)}: runway speaks sqlite:///PATH and "
        "postgresql://USER@HOST/DATABASE URLs"
    )


class _SQLiteConnection(sqlite3.Connection):
    """Every SQLite connection `databases` opens (one per task) enforces foreign keys, which
    SQLite leaves off per connection by default: ON DELETE CASCADE depends on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA foreign_keys = ON")


class Db:
    """A connected database and how to write to it safely."""

    def __init__(self, url: str) -> None:
        self.url = safe_url(url)
        self.backend: Backend = backend_of(url)
        options: dict[str, Any]
        if self.backend == "sqlite":
            url = re.sub(r"^sqlite\+aiosqlite:", "sqlite:", url, flags=re.IGNORECASE)
            options = {"factory": _SQLiteConnection, "timeout": SQLITE_BUSY_TIMEOUT}
        else:
            url = re.sub(r"^(postgres|postgresql\+asyncpg):", "postgresql:", url, flags=re.I)
            given = dict(parse_qsl(urlsplit(url).query))
            options = {k: v for k, v in POSTGRES_POOL.items() if k not in given}
            options["timeout"] = CONNECT_TIMEOUT
            # `databases` reads only `ssl` from the query; libpq URLs say `sslmode`, which
            # asyncpg's `ssl` accepts as is (`require`, `verify-full`, ...).
            if "sslmode" in given and "ssl" not in given:
                options["ssl"] = given["sslmode"]
        self._db = databases.Database(url, **options)
        self._write_lock = asyncio.Lock()
        self._writer: ContextVar[asyncio.Task[Any] | None] = ContextVar(
            f"runway.store.writer.{id(self)}", default=None
        )
        self._committed: ContextVar[list[Callable[[], None]]] = ContextVar(
            f"runway.store.committed.{id(self)}"
        )
        self._ssl = options.get("ssl")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database's file; None on Postgres and for in-memory databases."""
        if self.backend != "sqlite":
            return None
        name = str(self._db.url.database or "")
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        return Path(name).resolve()

    def dedicated_options(self) -> dict[str, Any]:
        """Postgres: the keyword arguments of `asyncpg.connect` for a connection of its own,
        outside the pool (the listener's), reaching the same server as the pool does."""
        url = self._db.url
        options: dict[str, Any] = {
            "host": url.hostname,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "database": url.database,
            "timeout": CONNECT_TIMEOUT,
        }
        ssl = self._ssl if self._ssl is not None else url.options.get("ssl")
        if ssl is not None:
            ssl = str(ssl).lower()
            options["ssl"] = {"true": True, "false": False}.get(ssl, ssl)
        return options

    async def connect(self) -> None:
        """Connect and make sure the database answers; DatabaseUnavailable when it does not."""
        try:
            if self.backend == "sqlite":
                # Opened with sqlite3 first: aiosqlite leaves a thread behind when it fails to open.
                await asyncio.to_thread(_prepare_sqlite, self._db.url.database)
            await self._db.connect()
            await self._db.fetch_one("SELECT 1")
        except Exception as error:
            await self.close()
            raise DatabaseUnavailable(
                f"cannot reach the database at {self.url}: {_reason(error)}"
            ) from error

    async def close(self) -> None:
        if self._db.is_connected:
            await self._db.disconnect()

    def _check_open(self) -> None:
        # `databases` would go on opening SQLite connections after disconnect().
        if not self._db.is_connected:
            raise DatabaseUnavailable(f"the store for {self.url} is closed")

    async def fetch_one(self, query: ClauseElement | str) -> Row | None:
        self._check_open()
        with _translated(self.url):
            return await self._db.fetch_one(query)

    async def fetch_all(self, query: ClauseElement | str) -> list[Row]:
        self._check_open()
        with _translated(self.url):
            return await self._db.fetch_all(query)

    async def execute(self, query: ClauseElement | str) -> None:
        self._check_open()
        with _translated(self.url):
            await self._db.execute(query)

    async def notify(self, channel: str, payload: str) -> None:
        """Postgres: `NOTIFY channel, payload`, delivered when the current write transaction
        commits (at once outside one); nothing on SQLite. `channel` is runway's own constant."""
        if self.backend == "postgresql":
            await self.execute(
                sa.text("SELECT pg_notify(:channel, :payload)").bindparams(
                    channel=channel, payload=payload
                )
            )

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the current task's write transaction has committed (never when
        it rolls back); at once outside a write transaction."""
        if self._writer.get() is asyncio.current_task():
            pending = self._committed.get(None)
            if pending is not None:
                pending.append(callback)
                return
        callback()

    async def insert_rows(self, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert `rows` in as few statements as the bind-parameter limits allow."""
        if not rows:
            return
        per = max(1, MAX_PARAMS // max(1, len(rows[0])))
        for start in range(0, len(rows), per):
            await self.execute(sa.insert(table).values(list(rows[start : start + per])))

    def insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that can say ON CONFLICT (both dialects spell it the same)."""
        if self.backend == "sqlite":
            return sqlite.insert(table)
        return postgresql.insert(table)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Keep one connection for the current task until the block ends (session state, such as
        a Postgres advisory lock, lives as long as the connection)."""
        with _translated(self.url):
            async with self._db.connection():
                yield

    async def lock(self, *names: str) -> None:
        """Inside `write()`: hold named locks until the transaction ends, so that check-then-write
        sequences on rows that may not exist yet (counts, first users) run one at a time across
        every instance. SQLite needs none: its write transactions already run one at a time."""
        if self.backend == "postgresql":
            for name in sorted(set(names)):  # one order everywhere: no deadlock
                await self.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))").bindparams(name=name)
                )

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        """A write transaction: committed when the block ends, rolled back when it raises.

        SQLite: one writer at a time in this process (an asyncio lock), and `BEGIN IMMEDIATE` so
        the write lock is taken up front: a plain `BEGIN` that reads and then writes fails at
        once with `database is locked` when another connection wrote in between, busy timeout
        or not. Other processes are waited for by the busy timeout. Postgres: a plain
        transaction; concurrent writers serialise on the rows they update.

        Re-entrant within a task: an inner `write()` joins the outer transaction. What
        `after_commit` was given inside runs once the outermost block has committed.
        """
        self._check_open()
        task = asyncio.current_task()
        if task is not None and self._writer.get() is task:
            yield
            return
        token = self._writer.set(task)
        committed: list[Callable[[], None]] = []
        pending = self._committed.set(committed)
        try:
            with _translated(self.url):
                async with self._transaction():
                    yield
        finally:
            self._committed.reset(pending)
            self._writer.reset(token)
        for callback in committed:
            callback()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        if self.backend == "postgresql":
            async with self._db.transaction():
                yield
        else:
            async with self._write_lock, self._db.connection() as connection:
                await connection.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    await _rollback(connection)
                    raise
                await connection.execute("COMMIT")


def _prepare_sqlite(path: str) -> None:
    """Open the file (creating it) and switch it to WAL, where readers never wait for the
    writer. The mode is stored in the file. Switching needs the file to itself and SQLite
    answers `database is locked` at once, busy timeout or not, while another connection (an
    instance starting at the same moment) has it open: try again for a while."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as error:
            mode = str(error)
        finally:
            connection.close()
        if mode == "wal":
            return
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"cannot switch the database to WAL mode: {mode}")
        time.sleep(0.02)


async def _rollback(connection: databases.core.Connection) -> None:
    # SQLite has already rolled back after some errors; closing the connection ends it anyway.
    with contextlib.suppress(sqlite3.OperationalError):
        await connection.execute("ROLLBACK")


def _reason(error: BaseException) -> str:
    return str(error).strip() or type(error).__name__
