"""App processes started ahead of the tabs that will need them: a new tab then gets one that
has already imported Textual and runway's dashboard (most of a second) and waits, holding
nobody's data, for its assignment on stdin (runway/cli/tui.py, `--wait-for-assignment`).

The pool keeps `size()` children while the total limit leaves room for them (it counts the
tabs' too), is filled in the background once someone may open a tab, and again a little after
one is taken (not at once: the taken one is busy starting its app, and cores are few), one
child at a time. Its children end when the server does: stdin's end tells a waiting child to
exit, and those still waiting at exit are killed."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
from asyncio.subprocess import Process
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("runway.http.ui")

REFILL_AFTER = 1.5
"""Seconds after a child is taken before the pool starts another."""
STAGGER = 1.0
"""Seconds between two children the pool starts: one imports at a time, beside the apps."""


@dataclass(frozen=True)
class _Waiting:
    public_url: str
    """What the child was started for: a server whose public URL changed starts new ones."""
    process: Process


class Pool:
    """Children waiting for a tab, for one server (its `Processes`)."""

    def __init__(
        self,
        size: Callable[[], int],
        room: Callable[[], int],
        start: Callable[[str], Awaitable[Process]],
    ) -> None:
        self._size = size
        self._room = room
        self._start = start
        self._waiting: list[_Waiting] = []
        self._filling: asyncio.Task[None] | None = None
        self._registered = False

    def fill(self, public_url: str, delay: float = 0.0) -> None:
        """Start children until the pool is full, in the background (once at a time)."""
        if self._size() <= 0 or (self._filling is not None and not self._filling.done()):
            return
        if not self._registered:
            atexit.register(self.kill_waiting)
            self._registered = True
        self._filling = asyncio.create_task(self._fill(public_url, delay), name="dashboard pool")

    def take(self, public_url: str) -> Process | None:
        """A waiting child for `public_url` (None when there is none); refills a little later."""
        self._prune(public_url)
        taken = self._waiting.pop(0).process if self._waiting else None
        self.fill(public_url, REFILL_AFTER)
        return taken

    def waiting(self) -> list[int]:
        """The pids of the children waiting now."""
        return [w.process.pid for w in self._waiting if w.process.returncode is None]

    async def close(self) -> None:
        """Stop filling, and end the waiting children."""
        if self._filling is not None:
            self._filling.cancel()
            await asyncio.gather(self._filling, return_exceptions=True)
        waiting, self._waiting = self._waiting, []
        for each in waiting:
            with contextlib.suppress(ProcessLookupError):
                each.process.kill()
        for each in waiting:
            await each.process.wait()

    def kill_waiting(self) -> None:
        """At exit, without an event loop: kill the children still waiting."""
        for each in self._waiting:
            if each.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(each.process.pid, signal.SIGKILL)

    async def _fill(self, public_url: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        while True:
            self._prune(public_url)
            if len(self._waiting) >= min(self._size(), self._room()):
                return
            try:
                process = await self._start(public_url)
            except OSError as error:
                log.warning("could not start a dashboard process ahead: %s", error)
                return
            self._waiting.append(_Waiting(public_url, process))
            await asyncio.sleep(STAGGER)

    def _prune(self, public_url: str) -> None:
        """Forget children that ended; end those started for another public URL."""
        kept = []
        for each in self._waiting:
            if each.process.returncode is not None:
                continue
            if each.public_url != public_url:
                with contextlib.suppress(ProcessLookupError):
                    each.process.kill()
                continue
            kept.append(each)
        self._waiting = kept
