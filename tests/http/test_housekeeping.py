"""The server forgets credentials that stopped working a week ago, at start and every hour."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runway.auth.passwords import PasswordHasher
from runway.http.app import create_app
from runway.http.housekeeping import KEEP
from runway.http.settings import Settings
from runway.store import Role, Store, TokenKind, sqlite_url

pytestmark = pytest.mark.anyio


async def test_a_starting_server_sweeps_dead_tokens_and_keeps_live_ones(tmp_path: Path):
    url = sqlite_url(tmp_path)
    store = await Store.open(url)
    try:
        ann = await store.users.create("ann", "hash", Role.ADMIN)
        now = datetime.now(UTC)
        make = store.credentials.create_token
        await make(ann.id, TokenKind.BROWSER, "tab", "dead", now - KEEP - timedelta(hours=1))
        recent = await make(ann.id, TokenKind.BROWSER, "tab", "recent", now - timedelta(hours=1))
        live = await make(ann.id, TokenKind.API, "ci", "live", now + timedelta(days=30))
        settings = Settings(url, "http://runway.test", hasher=PasswordHasher.cheap())
        app = create_app(settings, store)
        async with app.router.lifespan_context(app):
            for _ in range(200):
                if len(await store.credentials.tokens(ann.id)) < 3:
                    break
                await asyncio.sleep(0.01)
        left = {token.id for token in await store.credentials.tokens(ann.id)}
        assert left == {recent.id, live.id}, "the one dead for more than a week is gone"
    finally:
        await store.close()
