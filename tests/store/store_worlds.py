"""Helpers that build the store tests' worlds (imported by conftest and the tests)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

from runway.store import Deployment, Environment, Role, Store, User
from runway.store.tables import metadata

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def pg_reachable() -> bool:
    try:
        socket.create_connection((PG_HOST, PG_PORT), timeout=2).close()
    except OSError:
        return False
    return True


class Postgres:
    """Databases made for this session on the local server."""

    def __init__(self) -> None:
        self.prefix = f"runway_test_{secrets.token_hex(4)}"
        self.made: list[str] = []
        self._shared: str | None = None

    def url(self, name: str) -> str:
        return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"

    async def new_database(self) -> str:
        name = self.prefix if not self.made else f"{self.prefix}_{len(self.made)}"
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self.made.append(name)
        return self.url(name)

    async def shared_database(self) -> str:
        """The session's database, migrated, with every table emptied."""
        if self._shared is None:
            self._shared = await self.new_database()
            await (await Store.open(self._shared)).close()
        tables = ", ".join(t.name for t in metadata.sorted_tables if t.name != "schema_version")
        connection = await asyncpg.connect(self._shared)
        try:
            await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        finally:
            await connection.close()
        return self._shared

    async def drop_all(self) -> None:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            for name in self.made:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def in_thread(coroutine: Any) -> None:
    # Session teardown may run while the test runner's loop exists: use a loop of our own.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


class Raw:
    """The database behind a URL, reached without the store: to look at or set up what the
    store's interface does not show."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.backend = "sqlite" if url.startswith("sqlite") else "postgresql"

    def sqlite_path(self) -> str:
        return unquote(urlsplit(self.url).path)[1:]

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            with sqlite3.connect(self.sqlite_path(), timeout=30) as connection:
                return list(connection.execute(sql).fetchall())
        connection = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    async def execute(self, sql: str) -> None:
        if self.backend == "sqlite":
            connection = sqlite3.connect(self.sqlite_path(), timeout=30)
            try:
                connection.executescript(sql)
            finally:
                connection.close()
            return
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def count(self, table: str) -> int:
        return int((await self.fetch(f"SELECT count(*) FROM {table}"))[0][0])


async def a_user(store: Store, name: str = "ann", role: Role = Role.MEMBER) -> User:
    return await store.users.create(name, f"hash-of-{name}", role)


async def an_environment(store: Store, owner: User, name: str = "staging") -> Environment:
    return await store.environments.create(owner, name, NOW)


PLAN = {"app": "blog", "steps": [{"name": "db"}, {"name": "web", "depends_on": ["db"]}]}


async def a_deployment(
    store: Store, environment: Environment, by: User, app: str = "blog", **extra: Any
) -> tuple[Deployment, list[int]]:
    return await store.deployments.create(
        environment,
        by,
        app=app,
        config_text=f"runway: 1\napp: {app}\n",
        config_format="yaml",
        plan=PLAN,
        steps=[("db", "service"), ("web", "service")],
        now=extra.pop("now", NOW),
        **extra,
    )
