"""The dashboard's app processes, one per browser tab: how each is started (a clean
environment, `exec`, then given its user and short-lived token on stdin), stopped (killed when
it does not quit), and counted (the total on this server; the limit per user is kept in the
database, across instances: runway/http/ui/terminal.py).

textual-serve's `AppService` does the talking to the child; its private `_build_environment`,
`_open_app_process` and `_process` are used, which is why `textual-serve` is pinned exactly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import sys
from asyncio.subprocess import Process
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from runway.http.ui.pool import Pool

log = logging.getLogger("runway.http.ui")

WAIT_FLAG = "--wait-for-assignment"
"""`runway tui`'s mode that waits for its assignment on stdin (runway/cli/tui.py: the http
layer cannot import the cli's)."""

_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
"""The only variables of the server's environment a child sees: never its database URL or
any other secret runway was started with."""
_ADDED = ("TEXTUAL_DRIVER", "TEXTUAL_FPS", "TEXTUAL_COLOR_SYSTEM", "TERM_PROGRAM",
          "TERM_PROGRAM_VERSION", "COLUMNS", "ROWS")  # fmt: skip
"""What AppService (1.1.3) sets for the child's web driver and size."""
_QUIT_WAIT = 5.0


@dataclass(frozen=True)
class Limits:
    per_user: int = 4
    """Browser tabs of one person at once, counted across every instance (their live app
    tokens in the database)."""
    total: int = 40
    """App processes of this server, the waiting ones of the pool included. One takes about
    55 MB: forty are well under 2.5 GB."""
    pool: int = field(default_factory=lambda: _pool_size(os.environ.get(POOL_VARIABLE, "")))
    """App processes started ahead, waiting for a tab (0: each tab starts its own); 2 unless
    `RUNWAY_DASHBOARD_POOL` says otherwise. Each waiting one holds about 45 MB."""


POOL_VARIABLE = "RUNWAY_DASHBOARD_POOL"
_POOL = 2


def _pool_size(given: str) -> int:
    return min(int(given), 16) if given.isdecimal() else _POOL


class LimitReached(Exception):
    """Raised when a new app would pass a limit; says which, for people."""


def command(public_url: str) -> str:
    """The child's shell command: `exec`, so that stopping it stops the app itself, not a
    shell; nothing in it comes from a request (who it is for comes later, on stdin)."""
    return (
        f"exec {shlex.quote(sys.executable)} -m runway tui "
        f"--url {shlex.quote(public_url)} {WAIT_FLAG}"
    )


def environment(width: int = 80, height: int = 24) -> dict[str, str]:
    """A child's whole environment: the basics of the server's, and AppService's variables for
    the web driver. Nobody's token or name: those come on stdin."""
    clean = {name: os.environ[name] for name in _KEPT if name in os.environ}
    return {**clean, **_web_variables(width, height), "PYTHONUNBUFFERED": "1"}


def _web_variables(width: int, height: int) -> dict[str, str]:
    service = AppService(
        "", write_bytes=_nothing, write_str=_nothing, close=_nothing,
        download_manager=DownloadManager(),
    )  # fmt: skip
    made = service._build_environment(width, height)
    return {name: value for name, value in made.items() if name in _ADDED}


async def _nothing(*_: object) -> None:
    return None


async def start_child(public_url: str) -> Process:
    """A child waiting for its assignment (pipes for the app's input, output and errors)."""
    return await asyncio.create_subprocess_shell(
        command(public_url),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment(),
    )


@dataclass(frozen=True)
class Assignment:
    """Who a child becomes the dashboard of: one JSON line on its stdin."""

    token: str
    user: str
    deployment: int | None

    def line(self, width: int, height: int) -> bytes:
        given = {
            "token": self.token,
            "user": self.user,
            "deployment": self.deployment,
            "width": width,
            "height": height,
        }
        return json.dumps(given).encode() + b"\n"


class DashboardProcess(AppService):
    """textual-serve's app service around a child started ahead (`start_child`), which it
    gives its assignment when the tab starts; and a stop that cannot hang."""

    def __init__(
        self,
        child: Process,
        assignment: Assignment,
        *,
        write_bytes: Callable[[bytes], Awaitable[None]],
        write_str: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(
            "",
            write_bytes=write_bytes,
            write_str=write_str,
            close=close,
            download_manager=DownloadManager(),
        )
        self._child = child
        self._assignment = assignment

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Process:
        child = self._child
        assert child.stdin is not None
        self._process, self._stdin = child, child.stdin
        child.stdin.write(self._assignment.line(width, height))
        await child.stdin.drain()
        return child

    @property
    def pid(self) -> int:
        return self._child.pid

    async def finish(self) -> None:
        """Ask the app to quit; kill it when it has not within a few seconds."""
        process = self._child
        try:
            async with asyncio.timeout(_QUIT_WAIT):
                await self.stop()
        except (TimeoutError, OSError, RuntimeError) as error:
            log.warning("the dashboard process %s did not quit (%s): killed", process.pid, error)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


@dataclass
class _Running:
    user_id: int
    session_id: int
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class Processes:
    """The app processes of this server: the tabs' (by browser session: counted for the total,
    and ended at once when their session logs out here) and the pool's, waiting for a tab."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._running: list[_Running] = []
        self.pool = Pool(lambda: self.limits.pool, self._room, start_child)

    def warm(self, public_url: str) -> None:
        """Fill the pool (in the background) once someone may open a tab: called by the pages."""
        self.pool.fill(public_url)

    async def child(self, public_url: str) -> Process:
        """A waiting child for a new tab: the pool's, or one started now when it has none."""
        waiting = self.pool.take(public_url)
        return waiting if waiting is not None else await start_child(public_url)

    def reserve(self, user_id: int, session_id: int) -> asyncio.Event:
        """Count one more app; the event it returns is set to end it. LimitReached when this
        server runs as many as allowed."""
        if len(self._running) >= self.limits.total:
            raise LimitReached(
                "this server runs as many dashboards as it can right now: try again later, "
                "or use `runway tui` in a terminal"
            )
        running = _Running(user_id, session_id)
        self._running.append(running)
        return running.ended

    def release(self, ended: asyncio.Event) -> None:
        self._running = [r for r in self._running if r.ended is not ended]

    def end_session(self, session_id: int) -> None:
        """End every app of a browser session (it logged out)."""
        for running in self._running:
            if running.session_id == session_id:
                running.ended.set()

    def count(self) -> int:
        """The tabs running here (the pool's waiting children not included)."""
        return len(self._running)

    def _room(self) -> int:
        """How many children the pool may keep: the total leaves room for them."""
        return self.limits.total - len(self._running)
