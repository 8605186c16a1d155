"""Events and signals across instances: two Stores on one Postgres database hear each other
through LISTEN/NOTIFY (each through its own listening connection, which comes back when it is
killed); on SQLite, one instance, the hub and signals stay in the process.

Latencies are measured and printed (`pytest -s`); the bounds asserted are generous (a loaded
2-core machine), far below anything the polling fallback would give: the hub itself never polls.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from runway.store import StepStatus, Store
from runway.store import listener as listener_module
from runway.store.notify import EVENTS, MISSED, Signal, parse_event
from runway.store.transitions import StepChange
from tests.store.store_worlds import NOW, Postgres, a_deployment, a_user, an_environment

pytestmark = pytest.mark.anyio

BOUND = 1.0
"""Seconds a wake-up across instances may take in these tests (measured: about 1-3 ms)."""


@pytest.fixture
async def two(postgres: Postgres) -> AsyncIterator[tuple[Store, Store, str]]:
    """Two instances' Stores on one fresh Postgres database, and its URL."""
    url = await postgres.new_database()
    a = await Store.open(url)
    b = await Store.open(url)
    try:
        yield a, b, url
    finally:
        await a.close()
        await b.close()


async def _deployment_id(store: Store, app: str = "blog") -> int:
    ann = await store.users.by_name("ann") or await a_user(store)
    environment = await store.environments.get(ann.id, "staging")
    if environment is None:
        environment = await an_environment(store, ann)
    deployment, _ = await a_deployment(store, environment, ann, app=app)
    return deployment.id


async def _rolled_back(store: Store, action: Callable[[], Awaitable[object]]) -> None:
    """`action` inside a write transaction that then rolls back (RuntimeError)."""
    async with store._db.write():
        await action()
        raise RuntimeError("changed my mind: rolled back")


async def test_an_event_stored_through_one_store_wakes_a_waiter_of_the_other(two):
    a, b, _ = two
    deployment = await _deployment_id(a)
    latencies, writes = [], []
    for n in range(30):
        woken = b.events_hub.changed(deployment)
        started = time.perf_counter()
        stored = await a.deployments.add_event(deployment, "answer", {"input": f"i{n}"}, NOW)
        written = time.perf_counter()
        await asyncio.wait_for(woken.wait(), timeout=10)
        latencies.append(time.perf_counter() - started)
        writes.append(written - started)
        # Delivered at commit: what woke B is there for B to read.
        seen = await b.deployments.events(deployment, after=stored.id - 1)
        assert [event.id for event in seen] == [stored.id]
    print(
        f"\nwrite on A to wake-up on B: p50 {statistics.median(latencies) * 1000:.2f} ms, "
        f"max {max(latencies) * 1000:.2f} ms over {len(latencies)} (the write itself: p50 "
        f"{statistics.median(writes) * 1000:.2f} ms)"
    )
    assert max(latencies) < BOUND


async def test_every_commit_that_stores_events_announces_its_last_id_once(two):
    a, _, url = two
    heard: list[str] = []
    end = asyncio.Event()

    def hear(connection: Any, pid: int, channel: str, payload: str) -> None:
        heard.append(payload) if payload != "end" else end.set()

    ear = await asyncpg.connect(url)
    try:
        await ear.add_listener(EVENTS, hear)
        first = await _deployment_id(a)  # event 1
        await a.deployments.add_event(first, "answer", {"input": "theme"}, NOW)  # 2
        await a.transitions.start(first, now=NOW)  # 3
        pending = (StepStatus.PENDING,)
        await a.transitions.steps(  # 4, 5 in one transaction: announced as 5
            first,
            [
                StepChange("db", StepStatus.APPLYING, pending),
                StepChange("web", StepStatus.APPLYING, pending),
            ],
            now=NOW,
        )
        older = await _deployment_id(a, "shop")  # its event 1
        newer = await _deployment_id(a, "shop")  # its 1, and the older one's 2: superseded
        with pytest.raises(RuntimeError):  # nothing stored, nothing announced
            await _rolled_back(a, lambda: a.deployments.add_event(first, "answer", {}, NOW))
        # Notifications arrive in commit order: once this one is heard, all before it are.
        await ear.execute(f"NOTIFY {EVENTS}, 'end'")
        await asyncio.wait_for(end.wait(), timeout=10)
    finally:
        await ear.close()
    expected = [f"{first}:{n}" for n in (1, 2, 3, 5)]
    expected += [f"{older}:1", f"{newer}:1", f"{older}:2"]
    assert sorted(heard) == sorted(expected)
    by_deployment = defaultdict(list)
    for payload in heard:
        deployment, _, event = payload.partition(":")
        by_deployment[deployment].append(int(event))
    assert all(ids == sorted(ids) for ids in by_deployment.values()), heard
    assert parse_event("end") is None


async def test_the_listener_comes_back_after_its_connection_is_killed(two, monkeypatch):
    a, b, url = two
    deployment = await _deployment_id(a)
    listener = b.listener
    assert listener is not None and listener.connections == 1
    old = listener.pid
    assert old is not None
    # The first two attempts to connect again fail (as while a server restarts).
    real_connect = listener_module.asyncpg.connect
    failures = []

    async def flaky_connect(**options: Any) -> Any:
        if len(failures) < 2:
            failures.append(options["host"])
            raise OSError("connection refused (simulated)")
        return await real_connect(**options)

    killer = await asyncpg.connect(url)
    monkeypatch.setattr(listener_module.asyncpg, "connect", flaky_connect)
    woken = b.events_hub.changed(deployment)
    with b.signals.subscribe() as subscription:
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", old)
        finally:
            await killer.close()
        # Listening again, it wakes every waiter: whatever was sent meanwhile was missed.
        await asyncio.wait_for(woken.wait(), timeout=30)
        assert len(failures) == 2
        assert listener.connections == 2
        assert listener.pid not in (None, old)
        assert await asyncio.wait_for(subscription.get(), timeout=5) == Signal(None, MISSED)
    # And it hears the other instance again.
    woken = b.events_hub.changed(deployment)
    started = time.perf_counter()
    await a.deployments.add_event(deployment, "answer", {"input": "theme"}, NOW)
    await asyncio.wait_for(woken.wait(), timeout=10)
    assert time.perf_counter() - started < BOUND


async def test_a_signal_sent_through_one_reaches_the_others_subscribers_at_commit(two):
    a, b, _ = two
    deployment = await _deployment_id(a)
    with b.signals.subscribe() as on_b, a.signals.subscribe() as on_a:
        with pytest.raises(RuntimeError):  # never sent
            await _rolled_back(a, lambda: a.signals.send(deployment, "cancel"))
        async with a._db.write():
            await a.signals.send(deployment, "answer")
            # Not before the write commits.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(on_b.get(), timeout=0.2)
        await a.signals.send(deployment, "cancel")
        for subscription in (on_b, on_a):  # the sender's own instance hears it too
            got = [await asyncio.wait_for(subscription.get(), timeout=10) for _ in range(2)]
            assert got == [Signal(deployment, "answer"), Signal(deployment, "cancel")]


async def test_signals_stay_in_the_process_on_sqlite_and_wait_for_the_commit(tmp_path):
    from runway.store import sqlite_url

    store = await Store.open(sqlite_url(tmp_path))
    try:
        assert store.listener is None
        deployment = await _deployment_id(store)
        with store.signals.subscribe() as subscription:
            with pytest.raises(RuntimeError):  # never sent
                await _rolled_back(store, lambda: store.signals.send(deployment, "cancel"))
            async with store._db.write():
                await store.signals.send(deployment, "answer")
                await asyncio.sleep(0)
                assert subscription._queue.empty()
            assert await asyncio.wait_for(subscription.get(), 5) == Signal(deployment, "answer")
            with pytest.raises(ValueError, match="not a short lowercase word"):
                await store.signals.send(deployment, "Cancel: now")
    finally:
        await store.close()


async def test_closing_the_store_closes_its_listening_connection(postgres: Postgres):
    url = await postgres.new_database()
    store = await Store.open(url)
    assert store.listener is not None
    pid = store.listener.pid
    await store.close()
    watcher = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 10
        while await watcher.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
            assert time.monotonic() < deadline, "the listening connection outlived the store"
            await asyncio.sleep(0.05)
    finally:
        await watcher.close()
