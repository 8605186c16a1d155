"""A deployment's events as Server-Sent Events: replayed from 1, resumed after Last-Event-ID,
ids contiguous, woken at once by a new event, kept alive by pings, ended at the final state."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runway.http.routes import events as event_stream
from tests.http.stories import person_with_environment, read_events, send_blog
from tests.http.worlds import World

pytestmark = pytest.mark.anyio


async def test_a_final_deployments_stream_replays_from_1_and_ends(world: World):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    path = f"/api/v1/deployments/{blog['id']}"
    assert (await bob.post(f"{path}/inputs", json={"theme": "dark"})).status_code == 200
    assert (await bob.post(f"{path}/cancel")).status_code == 200
    events, pings = await read_events(bob, blog["id"])
    assert [(e.id, e.event) for e in events] == [
        (1, "deployment"),
        (2, "answer"),
        (3, "deployment"),
    ]
    assert [e.data["id"] for e in events] == [1, 2, 3]
    assert events[0].data == {
        "id": 1,
        "at": events[0].data["at"],
        "type": "deployment",
        "status": "created",
    }
    assert events[1].data == {
        "id": 2,
        "at": events[1].data["at"],
        "type": "answer",
        "input": "theme",
    }
    assert events[2].data["status"] == "cancelled"
    assert events[0].data["at"].endswith("Z")
    assert pings == 0

    resumed, _ = await read_events(bob, blog["id"], last=1)
    assert [e.id for e in resumed] == [2, 3]
    nothing_left, _ = await read_events(bob, blog["id"], last=3)
    assert nothing_left == []


async def test_a_superseded_deployments_stream_ends_too(world: World):
    bob = await person_with_environment(world)
    first = await send_blog(bob)
    await send_blog(bob)
    events, _ = await read_events(bob, first["id"])
    assert [e.data["status"] for e in events] == ["created", "superseded"]
    assert events[-1].data["reason"] == "superseded by deployment #2"


async def test_a_live_stream_is_woken_by_a_new_event_and_ends_at_the_final_state(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # Reading again on its own would take longer than the test waits: only the wake-up can
    # bring the cancel in time.
    monkeypatch.setattr(event_stream, "REREAD", 3600.0)
    monkeypatch.setattr(event_stream, "PING", 3600.0)
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    streaming = _spy(monkeypatch, world.store.deployments, "events")
    watching = asyncio.create_task(read_events(bob, blog["id"]))
    await asyncio.wait_for(streaming.wait(), timeout=30)
    assert not watching.done()  # created is not final: the stream waits
    assert (await bob.post(f"/api/v1/deployments/{blog['id']}/cancel")).status_code == 200
    events, _ = await asyncio.wait_for(watching, timeout=30)
    assert [e.data["status"] for e in events] == ["created", "cancelled"]
    assert len(world.store.events_hub) == 0  # the ended stream left nothing behind


def _spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> asyncio.Event:
    """An event set each time `owner.name` (an async method) has answered."""
    answered = asyncio.Event()
    original = getattr(owner, name)

    async def spy(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        answered.set()
        return result

    monkeypatch.setattr(owner, name, spy)
    return answered


async def test_a_quiet_stream_is_pinged(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(event_stream, "PING", 0.02)
    monkeypatch.setattr(event_stream, "REREAD", 0.01)
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    streaming = _spy(monkeypatch, world.store.deployments, "events")
    watching = asyncio.create_task(read_events(bob, blog["id"]))
    await asyncio.wait_for(streaming.wait(), timeout=30)
    # Each ping checks the caller's token first: once that answered, the ping is out.
    checked = _spy(monkeypatch, world.store.credentials, "authenticate")
    await asyncio.wait_for(checked.wait(), timeout=30)
    assert (await bob.post(f"/api/v1/deployments/{blog['id']}/cancel")).status_code == 200
    events, pings = await asyncio.wait_for(watching, timeout=30)
    assert pings >= 1
    assert [e.id for e in events] == [1, 2]


async def test_a_disabled_user_stops_watching_at_the_next_ping(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(event_stream, "PING", 0.02)
    monkeypatch.setattr(event_stream, "REREAD", 0.01)
    user, token = await world.person("bob")
    bob = world.client(token)
    assert (await bob.post("/api/v1/environments", json={"name": "staging"})).status_code == 201
    blog = await send_blog(bob)
    streaming = _spy(monkeypatch, world.store.deployments, "events")
    watching = asyncio.create_task(read_events(bob, blog["id"]))
    await asyncio.wait_for(streaming.wait(), timeout=30)
    await world.store.users.update(user.id, disabled=True)
    events, _ = await asyncio.wait_for(watching, timeout=30)
    assert [e.id for e in events] == [1]  # ended without the deployment ending
    stored = await world.store.deployments.get(blog["id"])
    assert stored is not None and stored.status == "created"


@pytest.mark.parametrize(
    "header", [b"abc", b"-1", b"1.5", "\u00b2".encode("latin-1"), b"99999999999999999999"]
)
async def test_an_odd_last_event_id_is_refused(world: World, header: bytes):
    bob = await person_with_environment(world)
    blog = await send_blog(bob)
    answer = await bob.get(
        f"/api/v1/deployments/{blog['id']}/events", headers={"Last-Event-ID": header}
    )
    assert answer.status_code == 422, answer.text
    assert "Last-Event-ID" in answer.json()["error"]["message"]
