"""Wake-ups across runway instances: "this deployment has new events" and signals to the instance
that owns a deployment ("an answer came", "cancel it").

In this process, `EventHub` wakes whoever waits on a deployment's events (the event streams) and
`Signals` hands signals to its subscribers (the executor). Across instances on Postgres, every
transaction that stores events also sends `NOTIFY runway_events, '<deployment_id>:<last id>'`, and a
signal is `NOTIFY runway_signals, '<deployment_id>:<kind>'`, both inside the writer's transaction,
so they are delivered exactly when it commits and never when it rolls back. Each instance's
listener (runway.store.listener) hears them and feeds this process's hub and subscribers. On
SQLite there is one instance: the writers wake the hub themselves, and signals go straight to the
subscribers once the write commits.

Notifications can be missed (the listening connection drops): the listener then wakes every
waiter and tells subscribers `MISSED`, and readers never rely on wake-ups alone (an event stream
reads again every few seconds; the owner of a deployment reads its state again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from runway.store.database import Db
from runway.store.tables import deployments

log = logging.getLogger("runway.store")

EVENTS = "runway_events"
"""The channel every stored event is announced on: `<deployment_id>:<event_id>`."""
SIGNALS = "runway_signals"
"""The channel of signals to a deployment's owner: `<deployment_id>:<kind>`."""
MISSED = "missed"
"""The kind of the signal a subscriber gets when signals may have been lost (the listening
connection dropped): read again the state of every deployment it owns."""
KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""What a signal's kind may be: short and plain, as it travels in a NOTIFY payload."""
QUEUE = 10_000
"""Signals a subscriber may leave unread before newer ones are dropped (it is told `MISSED`)."""


class EventHub:
    """One asyncio.Event per deployment someone waits on, set and replaced on each notify."""

    def __init__(self) -> None:
        self._waiting: dict[int, asyncio.Event] = {}
        self._watchers: dict[int, int] = {}
        self.closing = False
        """Set by `close()`: the server is stopping, streams end (their clients resume
        elsewhere with Last-Event-ID) instead of holding its shutdown up."""

    def close(self) -> None:
        """The server is stopping: every waiter wakes and sees `closing`."""
        self.closing = True
        self.notify_all()

    @contextlib.contextmanager
    def watching(self, deployment_id: int) -> Iterator[None]:
        """Around a reader's use of `changed(deployment_id)`: once the last reader of a
        deployment is gone, its entry goes too (a server that streamed many deployments keeps
        nothing of those finished)."""
        self._watchers[deployment_id] = self._watchers.get(deployment_id, 0) + 1
        try:
            yield
        finally:
            left = self._watchers.pop(deployment_id) - 1
            if left:
                self._watchers[deployment_id] = left
            else:
                self._waiting.pop(deployment_id, None)

    def __len__(self) -> int:
        """How many deployments have an entry (someone waits on them)."""
        return len(self._waiting)

    def notify(self, deployment_id: int) -> None:
        """The deployment has new events (committed)."""
        event = self._waiting.pop(deployment_id, None)
        if event is not None:
            event.set()

    def notify_all(self) -> None:
        """Every deployment may have new events (notifications may have been missed)."""
        waiting, self._waiting = self._waiting, {}
        for event in waiting.values():
            event.set()

    def changed(self, deployment_id: int) -> asyncio.Event:
        """The event the next notify of the deployment sets: take it, read, then wait on it,
        so nothing stored between the read and the wait is missed."""
        return self._waiting.setdefault(deployment_id, asyncio.Event())


async def announce(db: Db, *deployment_ids: int) -> None:
    """Inside the write transaction that just stored an event of each of `deployment_ids`:
    on Postgres, announce it to every instance (`NOTIFY runway_events`, delivered at commit)
    with the deployment's latest event id, read in the same statement. One statement, however
    many deployments, in plain SQL (a Core select costs about 1 ms of compiling per event).
    Nothing on SQLite, where the writer's own hub notify is enough."""
    if db.backend != "postgresql" or not deployment_ids:
        return
    await db.fetch_all(_ANNOUNCE.bindparams(ids=sorted(set(deployment_ids))))


_ANNOUNCE = sa.text(
    f"SELECT pg_notify('{EVENTS}', CAST(id AS TEXT) || ':' || CAST(last_event_id AS TEXT)) "
    f"FROM {deployments.name} WHERE id IN :ids"
).bindparams(sa.bindparam("ids", expanding=True))


def parse_event(payload: str) -> int | None:
    """The deployment id of a `runway_events` payload; None when it is not one of runway's."""
    deployment, _, event = payload.partition(":")
    if deployment.isascii() and deployment.isdigit() and event.isascii() and event.isdigit():
        return int(deployment)
    return None


@dataclass(frozen=True, slots=True)
class Signal:
    """Something the owner of `deployment_id` should act on: `kind` says what (e.g. `answer`,
    `cancel`; `MISSED`, with `deployment_id` None, when signals may have been lost)."""

    deployment_id: int | None
    kind: str


def parse_signal(payload: str) -> Signal | None:
    """The signal of a `runway_signals` payload; None when it is not one of runway's."""
    deployment, _, kind = payload.partition(":")
    if not (deployment.isascii() and deployment.isdigit() and KIND.fullmatch(kind)):
        return None
    return Signal(int(deployment), kind)


class Subscription:
    """The signals of every deployment, in the order they were sent, from the moment of
    `Signals.subscribe()`: iterate with `async for`; `close()` (or leave the `with` block) to
    stop. The owner keeps those of the deployments it owns."""

    def __init__(self, signals: Signals) -> None:
        self._signals = signals
        self._queue: asyncio.Queue[Signal] = asyncio.Queue(QUEUE)
        self._overflowed = False

    def put(self, signal: Signal) -> None:
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(signal)
        except asyncio.QueueFull:
            self._overflowed = True  # told once it has read what it holds

    async def get(self) -> Signal:
        """The next signal (waits for one)."""
        if self._queue.empty() and self._overflowed:
            self._overflowed = False
            return Signal(None, MISSED)
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[Signal]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Signal]:
        while True:
            yield await self.get()

    def close(self) -> None:
        self._signals.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Signals:
    """Signals to the owner of a deployment, whichever instance sent them and whichever owns it:
    `send` after (or inside) the write the owner must act on; the executor `subscribe`s."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self._subscribers: list[Subscription] = []

    async def send(self, deployment_id: int, kind: str) -> None:
        """Tell the deployment's owner `kind` (lowercase, up to 32 characters). Inside a write
        transaction it goes out when that commits (nothing when it rolls back); outside, at once.
        Postgres: `NOTIFY runway_signals`, heard by every instance, this one too. SQLite: to
        this process's subscribers."""
        if not KIND.fullmatch(kind):
            raise ValueError(f"signal kind {kind!r} is not a short lowercase word")
        if self._db.backend == "postgresql":
            await self._db.notify(SIGNALS, f"{deployment_id}:{kind}")
        else:
            self._db.after_commit(lambda: self.deliver(Signal(deployment_id, kind)))

    def subscribe(self) -> Subscription:
        """Every signal sent from now on (see Subscription)."""
        subscription = Subscription(self)
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(subscription)

    def deliver(self, signal: Signal) -> None:
        """Hand `signal` to every subscriber (the listener calls this for what it hears)."""
        for subscriber in list(self._subscribers):
            subscriber.put(signal)

    def missed(self) -> None:
        """Signals may have been lost: every subscriber gets `MISSED`."""
        self.deliver(Signal(None, MISSED))
