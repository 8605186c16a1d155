"""Worlds for the API's tests: a server on SQLite or on a fresh Postgres database, with people."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from runway.auth import LoginLimits, PasswordHasher, new_token, token_hash
from runway.http import Settings, create_app
from runway.store import Store, sqlite_url
from runway.store.records import Role, TokenKind, User

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
PUBLIC_URL = "http://runway.test"
PASSWORD = "correct horse battery"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _postgres_database() -> str:
    name = f"runway_http_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def _drop(name: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """Every test of the API runs on the embedded default and on Postgres."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    name = await _postgres_database()
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        await _drop(name)


@dataclass
class World:
    """A running API with its store, and ways to add people to it."""

    store: Store
    settings: Settings
    app: Any
    clients: list[httpx.AsyncClient] = field(default_factory=list)

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


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    settings = Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        hasher=PasswordHasher.cheap(),
        login_limits=LoginLimits(per_user=3, per_address=5),
    )
    store = await Store.open(database_url)
    world = World(store, settings, create_app(settings, store))
    try:
        yield world
    finally:
        for client in world.clients:
            await client.aclose()
        await store.close()
