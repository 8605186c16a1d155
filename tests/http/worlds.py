"""The world the API's tests live in: a running API with its store, and people in it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from runway.auth import new_token, token_hash
from runway.http import Settings
from runway.store import Store
from runway.store.records import Role, TokenKind, User

PUBLIC_URL = "http://runway.test"
PASSWORD = "correct horse battery"


@dataclass
class World:
    """A running API with its store, and ways to add people to it."""

    store: Store
    settings: Settings
    app: Any
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    sim: Any = None
    """The simulated cluster deployments go to (a runway.simcluster.SimCluster), if any."""

    @property
    def executor(self) -> Any:
        return self.app.state.runway.executor

    async def close(self) -> None:
        """Close the clients, and stop the deployments the app runs (as its lifespan would)."""
        for client in self.clients:
            await client.aclose()
        await self.executor.close()

    def client(self, token: str | None = None, **headers: str) -> httpx.AsyncClient:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("203.0.113.7", 4321)),
            base_url=PUBLIC_URL,
            headers=headers,
        )
        self.clients.append(client)
        return client

    async def person(self, name: str, role: Role = Role.MEMBER) -> tuple[User, str]:
        """A user with the password PASSWORD, and a session token of theirs."""
        user = await self.store.users.create(name, self.settings.hasher.hash(PASSWORD), role)
        return user, await self.token(user)

    async def token(self, user: User, *, expires_in: timedelta = timedelta(days=1)) -> str:
        token = new_token()
        await self.store.credentials.create_token(
            user.id, TokenKind.SESSION, "test", token_hash(token), datetime.now(UTC) + expires_in
        )
        return token

    async def as_person(self, name: str, role: Role = Role.MEMBER) -> httpx.AsyncClient:
        _, token = await self.person(name, role)
        return self.client(token)


async def dump_database(database_url: str) -> str:
    """Every row of every table, read straight from the database, as text."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with sqlite3.connect(path) as connection:
            tables = [
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return "\n".join(
                repr(row)
                for table in tables
                for row in connection.execute(f'SELECT * FROM "{table}"')
            )
    connection = await asyncpg.connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        rows = [
            repr(tuple(row))
            for table in tables
            for row in await connection.fetch(f'SELECT * FROM "{table}"')
        ]
    finally:
        await connection.close()
    return "\n".join(rows)
