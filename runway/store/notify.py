"""Wake-ups for readers of a deployment's events: whoever stores an event in this process
notifies, and every event stream of that deployment reads again at once.

Only this process's writes notify; a stream still reads again every few seconds on its own, so
events another instance stored arrive too, later (a database-wide notification, Postgres
LISTEN/NOTIFY, is the multi-instance step).
"""

from __future__ import annotations

import asyncio


class EventHub:
    """One asyncio.Event per deployment someone waits on, set and replaced on each notify."""

    def __init__(self) -> None:
        self._waiting: dict[int, asyncio.Event] = {}

    def notify(self, deployment_id: int) -> None:
        """The deployment has new events (committed)."""
        event = self._waiting.pop(deployment_id, None)
        if event is not None:
            event.set()

    def changed(self, deployment_id: int) -> asyncio.Event:
        """The event the next notify of the deployment sets: take it, read, then wait on it,
        so nothing stored between the read and the wait is missed."""
        return self._waiting.setdefault(deployment_id, asyncio.Event())
