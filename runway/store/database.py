"""The connection to SQLite or Postgres, and write transactions that behave the same on both.

Only this module talks to the engines directly; the query modules go through `Db`.

Postgres: SQLAlchemy's async engine over asyncpg, pooled. SQLite: SQLAlchemy's engine over the
standard sqlite3 module, run on the event loop's own thread (runway.store.sqlite_loop says why
and how it never blocks the loop for long).

Why not `databases` (which runway used first): it opens a new connection, and on SQLite a new
aiosqlite thread, for every task that touches the database, and compiles every statement
anew. A deployment step runs in several tasks, so each step paid for several connections and
threads; the pool, the compiled cache and SQLite without threads remove all three
(bench/execute.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import ClauseElement

from runway.store.errors import DatabaseUnavailable
from runway.store.sqlite_loop import SQLiteOnLoop
from runway.store.unavailable import reason, translated

Backend = Literal["sqlite", "postgresql"]

SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for another process's write transaction (`runway setup` while
the server runs): within one process the write lock already queues writers."""

CONNECT_TIMEOUT = 10.0
POSTGRES_POOL = 10
"""Connections kept per instance (a URL's `max_size` overrides it), and how many more it opens
for a burst."""
POSTGRES_OVERFLOW = 10
IDLE_IN_TRANSACTION = "10s"
"""How long Postgres lets a transaction sit idle (its client frozen) before ending it: runway's
write transactions never wait on anything but the database, so a live instance never idles
this long in one; a frozen one's lease has lapsed by then (10 s by default), so the takeover
waits no longer than it would anyway. (A connection pooler that refuses startup parameters,
such as PgBouncer without `ignore_startup_parameters`, needs this set on the role instead.)"""

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


class Row:
    """A result row, read by column name (`row["id"]`) or position (`row[0]`)."""

    __slots__ = ("_row",)

    def __init__(self, row: sa.Row[Any]) -> None:
        self._row = row

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._row[key]
        return self._row._mapping[key]

    def __repr__(self) -> str:
        return f"Row({dict(self._row._mapping)!r})"


def _postgres_engine(parsed: sa.URL) -> tuple[AsyncEngine, sa.URL]:
    """The pooled engine for a Postgres URL, and the URL it connects with."""
    query = dict(parsed.query)
    pool_size = int(str(query.pop("max_size", POSTGRES_POOL)))
    query.pop("min_size", None)
    # libpq URLs say `sslmode`, which asyncpg's `ssl` accepts as is (`require`, ...).
    sslmode = query.pop("sslmode", None)
    if sslmode is not None and "ssl" not in query:
        query["ssl"] = sslmode
    parsed = parsed.set(drivername="postgresql+asyncpg", query=query)
    engine = create_async_engine(
        parsed,
        connect_args={
            "timeout": CONNECT_TIMEOUT,
            # An instance frozen (SIGSTOP, a stalled VM) inside a write transaction would hold
            # its row locks (a lease held FOR SHARE) until it wakes, blocking the takeover of
            # its deployments: the server ends such a transaction after this long instead.
            "server_settings": {"idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION},
        },
        pool_size=pool_size,
        max_overflow=POSTGRES_OVERFLOW,
        pool_timeout=CONNECT_TIMEOUT,
    )
    return engine, parsed


Connection = AsyncConnection | sa.Connection


Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
"""The values of a statement's bind parameters: one set, or several (executemany)."""


async def _run(
    connection: Connection, query: ClauseElement | str, params: Params = None
) -> sa.CursorResult[Any]:
    """Run a Core statement (with `params` for its bind parameters, when given), or a raw SQL
    string as the driver takes it (DDL, advisory locks: no bind parameters, so a colon in it
    means nothing). SQLite's run where they are called."""
    if isinstance(connection, AsyncConnection):
        if isinstance(query, str):
            return await connection.exec_driver_sql(query)
        return await connection.execute(query, params)  # type: ignore[call-overload,no-any-return]
    if isinstance(query, str):
        return connection.exec_driver_sql(query)
    return connection.execute(query, params)  # type: ignore[call-overload,no-any-return]


class Db:
    """A connected database and how to write to it safely.

    A statement outside `write()` and `session()` runs in autocommit mode: on Postgres on a
    pooled connection, on SQLite on the reader connection. `write()` (and on Postgres
    `session()`) keeps one connection for the task until the block ends; a task started inside
    gets its own. Compiled statements are cached by SQLAlchemy."""

    def __init__(self, url: str) -> None:
        self.url = safe_url(url)
        self.backend: Backend = backend_of(url)
        parsed = make_url(url)
        self._sqlite: SQLiteOnLoop | None = None
        self._engine: AsyncEngine | None = None
        if self.backend == "sqlite":
            name = str(parsed.database or "")
            if not name or name == ":memory:" or "mode=memory" in name:
                # Its reader and writer would be two separate databases, and nothing would last.
                raise DatabaseUnavailable(
                    f"cannot use the database at {self.url}: runway keeps its data in a file, "
                    "give sqlite:///PATH"
                )
            self._parsed = parsed
            self._sqlite = SQLiteOnLoop(parsed, SQLITE_BUSY_TIMEOUT)
        else:
            self._engine, self._parsed = _postgres_engine(parsed)
            # Outside a transaction: no BEGIN/ROLLBACK round trips around each statement.
            self._plain = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._open = False
        self._write_lock = asyncio.Lock()
        self._bound: ContextVar[tuple[asyncio.Task[Any] | None, Connection] | None] = ContextVar(
            f"runway.store.bound.{id(self)}", default=None
        )
        self._writer: ContextVar[asyncio.Task[Any] | None] = ContextVar(
            f"runway.store.writer.{id(self)}", default=None
        )
        self._committed: ContextVar[list[Callable[[], None]]] = ContextVar(
            f"runway.store.committed.{id(self)}"
        )

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database's file; None on Postgres and for in-memory databases."""
        if self.backend != "sqlite":
            return None
        name = str(self._parsed.database or "")
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        return Path(name).resolve()

    def dedicated_options(self) -> dict[str, Any]:
        """Postgres: the keyword arguments of `asyncpg.connect` for a connection of its own,
        outside the pool (the listener's), reaching the same server as the pool does."""
        url = self._parsed
        options: dict[str, Any] = {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "database": url.database,
            "timeout": CONNECT_TIMEOUT,
        }
        ssl = url.query.get("ssl")
        if ssl is not None:
            ssl = str(ssl).lower()
            options["ssl"] = {"true": True, "false": False}.get(ssl, ssl)
        return options

    async def connect(self) -> None:
        """Connect and make sure the database answers; DatabaseUnavailable when it does not."""
        try:
            if self._sqlite is not None:
                await asyncio.to_thread(_prepare_sqlite, str(self._parsed.database))
                self._sqlite.open()
            else:
                async with self._plain.connect() as connection:
                    await connection.exec_driver_sql("SELECT 1")
            self._open = True
        except Exception as error:
            await self.close()
            raise DatabaseUnavailable(
                f"cannot reach the database at {self.url}: {reason(error)}"
            ) from error

    async def close(self) -> None:
        self._open = False
        if self._sqlite is not None:
            self._sqlite.close()
        if self._engine is not None:
            await self._engine.dispose()

    def _check_open(self) -> None:
        # The engine would open new connections after dispose().
        if not self._open:
            raise DatabaseUnavailable(f"the store for {self.url} is closed")

    def _task_connection(self) -> Connection | None:
        """The connection `write()` or `session()` keeps for the current task, if any."""
        bound = self._bound.get()
        if bound is not None and bound[0] is asyncio.current_task():
            return bound[1]
        return None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        self._check_open()
        with translated(self.url):
            kept = self._task_connection()
            if kept is not None:
                yield kept
            elif self._sqlite is not None:
                assert self._sqlite.reader is not None
                yield self._sqlite.reader
            else:
                async with self._plain.connect() as connection:
                    yield connection

    @contextlib.contextmanager
    def _bind(self, connection: Connection) -> Iterator[None]:
        token = self._bound.set((asyncio.current_task(), connection))
        try:
            yield
        finally:
            self._bound.reset(token)

    # `params`: the values of a statement built once with `sa.bindparam` placeholders (a
    # module constant): building a Core statement and its cache key anew for every call costs
    # more than running it, on the executor's path of every step.

    async def fetch_one(
        self, query: ClauseElement | str, params: Mapping[str, Any] | None = None
    ) -> Row | None:
        async with self._connection() as connection:
            row = (await _run(connection, query, params)).first()
        return None if row is None else Row(row)

    async def fetch_all(
        self, query: ClauseElement | str, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        async with self._connection() as connection:
            rows = (await _run(connection, query, params)).all()
        return [Row(row) for row in rows]

    async def execute(self, query: ClauseElement | str, params: Params = None) -> None:
        """Run a statement for its effect; `params` a list of value sets runs it once per set
        (the driver's executemany: one compiled statement, however many rows)."""
        if self._sqlite is not None and self._task_connection() is None:
            # SQLite's reader never writes: a write outside write() waits its turn like any.
            async with self.write():
                await self.execute(query, params)
            return
        async with self._connection() as connection:
            await _run(connection, query, params)

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
        if self._task_connection() is not None or self._sqlite is not None:
            yield  # SQLite: nothing lives in a session that runway uses
            return
        self._check_open()
        with translated(self.url):
            async with self._plain.connect() as connection:
                with self._bind(connection):
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
            with translated(self.url):
                async with self._transaction() as connection:
                    with self._bind(connection):
                        yield
        finally:
            self._committed.reset(pending)
            self._writer.reset(token)
        for callback in committed:
            callback()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        if self._sqlite is None:
            assert self._engine is not None
            async with self._engine.begin() as connection:
                yield connection
            return
        async with self._write_lock:
            self._check_open()
            writer = await self._sqlite.begin()
            try:
                yield writer
                writer.commit()
            except BaseException:
                # SQLite has already rolled back after some errors.
                with contextlib.suppress(sa.exc.OperationalError):
                    writer.rollback()
                raise


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
