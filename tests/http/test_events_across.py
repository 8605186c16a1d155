"""The event stream across instances: a client of instance B watches a deployment whose events
instance A stores (two Stores and two apps on one Postgres database, as two replicas would be).
B hears of them through its Postgres listener: with the stream's own re-reading turned off, the
events can only reach the client that way, and they must all arrive, in order, once each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from runway.auth import LoginLimits, PasswordHasher
from runway.http import Settings, create_app
from runway.http.routes import events as event_stream
from runway.store import Store
from tests.http.stories import read_events, send_blog
from tests.http.worlds import PUBLIC_URL, World

pytestmark = pytest.mark.anyio

EVENTS = 120
"""Events A stores while B's client watches (besides created and cancelled)."""
WRITERS = 4
"""Tasks on A storing them at once (their ids interleave)."""


@pytest.fixture
async def instances(postgres_url: str) -> AsyncIterator[tuple[World, World]]:
    settings = Settings(
        database_url=postgres_url,
        public_url=PUBLIC_URL,
        hasher=PasswordHasher.cheap(),
        login_limits=LoginLimits(per_user=3, per_address=5),
    )
    stores = [await Store.open(postgres_url), await Store.open(postgres_url)]
    worlds = [World(store, settings, create_app(settings, store)) for store in stores]
    try:
        yield worlds[0], worlds[1]
    finally:
        for world in worlds:
            await world.close()
        for store in stores:
            await store.close()


def _answered(owner: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Set each time the async method `owner.name` has answered."""
    answered = asyncio.Event()
    original = getattr(owner, name)

    async def spy(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        answered.set()
        return result

    monkeypatch.setattr(owner, name, spy)
    return answered


async def test_a_client_of_one_instance_sees_every_event_the_other_stores(
    instances: tuple[World, World], monkeypatch: pytest.MonkeyPatch
):
    # No re-reading on a timer: only a wake-up from B's listener brings A's events to B.
    monkeypatch.setattr(event_stream, "REREAD", 3600.0)
    monkeypatch.setattr(event_stream, "PING", 3600.0)
    a, b = instances
    _, token = await a.person("bob")
    on_a, on_b = a.client(token), b.client(token)
    assert (await on_a.post("/api/v1/environments", json={"name": "staging"})).status_code == 201
    blog = await send_blog(on_a)
    deployment = blog["id"]

    read = _answered(b.store.deployments, "events", monkeypatch)
    watching = asyncio.create_task(read_events(on_b, deployment))
    await asyncio.wait_for(read.wait(), timeout=30)  # B's stream has read event 1 and waits

    async def write(writer: int) -> None:
        for n in range(EVENTS // WRITERS):
            data = {"input": f"w{writer}n{n}"}
            await a.store.deployments.add_event(deployment, "answer", data, datetime.now(UTC))
            if n % 5 == 0:
                await asyncio.sleep(0.005)  # let B's stream catch up now and then, mid-run

    started = time.perf_counter()
    await asyncio.gather(*(write(w) for w in range(WRITERS)))
    assert (await on_a.post(f"/api/v1/deployments/{deployment}/cancel")).status_code == 200
    events, _ = await asyncio.wait_for(watching, timeout=30)
    took = time.perf_counter() - started

    ids = [event.id for event in events]
    assert ids == list(range(1, EVENTS + 3))  # created, the answers, cancelled: in order, once
    assert events[0].data["status"] == "created"
    assert events[-1].data["status"] == "cancelled"
    stored = await a.store.deployments.events(deployment, limit=EVENTS + 10)
    assert [event.data.get("input") for event in events] == [
        event.data.get("input") for event in stored
    ]
    print(f"\n{len(events)} events from A seen through B in {took:.2f} s")
