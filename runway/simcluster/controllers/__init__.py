"""The simulated cluster's controllers: what kube-controller-manager and the kubelet would do.

Each controller watches some resources and reacts to their changes by writing objects through
`cluster.objects` (as a real controller writes through the API), with its own field manager.
Time (an image becoming ready after its delay, a crash loop's back-off) goes through `later`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runway.simcluster.store import Change, Subscription

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

log = logging.getLogger("runway.simcluster")

SLICE = 0.005
"""Seconds of controller work between two turns of the event loop: a burst of changes (thousands
of pods) must not keep the API server from answering meanwhile."""


@dataclass
class Behaviour:
    """How simulated images and volumes behave; the test-only admin API changes it."""

    ready_delay: float = 0.2
    """Seconds before a container of an ordinary image is ready."""
    slow_delay: float = 5.0
    """Seconds for an image tagged `:slow`."""
    image_delays: dict[str, float] = field(default_factory=dict)
    """Per image reference (`example/web:1`), overriding the two above."""


class Controller:
    """Reacts to the changes of the resources in `watches` (store keys such as `apps/deployments`,
    `/pods`). Existing objects are replayed as ADDED when the controller starts."""

    watches: tuple[str, ...] = ()

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster

    def changed(self, change: Change) -> None:
        """Called in the event loop for every change of a watched resource, in order."""

    def later(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay` seconds (while the cluster runs)."""
        self.cluster.controllers.later(delay, action)


class Controllers:
    """Runs a set of controllers while the cluster is served."""

    def __init__(self, cluster: SimCluster, kinds: Sequence[type[Controller]]) -> None:
        self.cluster = cluster
        self.running = [kind(cluster) for kind in kinds]
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Subscription[Change]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._due: deque[Callable[[], None]] = deque()
        self._draining: asyncio.Task[None] | None = None

    async def start(self) -> None:
        store = self.cluster.store
        for controller in self.running:
            for resource in controller.watches:
                subscription = store.subscribe(resource)
                self._subscriptions.append(subscription)
                for obj in store.items(resource):
                    self._safely(controller, Change(store.rv, "ADDED", resource, obj, None))
                self._tasks.append(asyncio.create_task(self._follow(controller, subscription)))

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._due.clear()
        if self._draining is not None:
            self._draining.cancel()
            await asyncio.gather(self._draining, return_exceptions=True)
            self._draining = None
        for subscription in self._subscriptions:
            self.cluster.store.unsubscribe(subscription)
            subscription.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._subscriptions.clear()

    def later(self, delay: float, action: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def due() -> None:
            # Actions due together (a thousand pods' delays) run in slices, not in one turn.
            self._timers.discard(timer)
            self._due.append(action)
            if self._draining is None or self._draining.done():
                self._draining = asyncio.create_task(self._drain())

        timer = loop.call_later(max(0.0, delay), due)
        self._timers.add(timer)

    async def _drain(self) -> None:
        began = time.monotonic()
        while self._due:
            action = self._due.popleft()
            try:
                action()
            except Exception:
                log.exception("runway-sim (simulated): a timed controller action failed")
            if time.monotonic() - began > SLICE:
                await asyncio.sleep(0)
                began = time.monotonic()

    async def _follow(self, controller: Controller, subscription: Subscription[Change]) -> None:
        began = time.monotonic()
        while (change := await subscription.get()) is not None:
            self._safely(controller, change)
            if time.monotonic() - began > SLICE:
                await asyncio.sleep(0)  # let the API server answer between slices of a burst
                began = time.monotonic()

    @staticmethod
    def _safely(controller: Controller, change: Change) -> None:
        # One controller's mistake must not stop the others, nor the API server.
        try:
            controller.changed(change)
        except Exception:
            log.exception(
                "runway-sim (simulated): %s failed on %s %s",
                type(controller).__name__,
                change.type,
                change.resource,
            )


CONTROLLERS: list[type[Controller]] = []
"""Every controller a started cluster runs; each module of this package adds its own."""
