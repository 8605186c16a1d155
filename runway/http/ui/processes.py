"""The dashboard's app processes, one per browser tab: how each is started (a clean
environment, its own short-lived token, `exec`), stopped (killed when it does not quit), and
counted (limits per user and in total).

textual-serve's `AppService` does the talking to the child; its private `_build_environment`
and `_process` are used, which is why `textual-serve` is pinned exactly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

log = logging.getLogger("runway.http.ui")

# The names `runway tui` reads (runway/cli/tui.py): the http layer cannot import the cli's.
TOKEN_VARIABLE = "RUNWAY_TOKEN"
DEPLOYMENT_VARIABLE = "RUNWAY_DEPLOYMENT"
USER_VARIABLE = "RUNWAY_USER"

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
    total: int = 40
    """One app process takes about 35 MB: forty are well under 2 GB."""


class LimitReached(Exception):
    """Raised by `Processes.reserve` when a new app would pass a limit; says which, for people."""


def command(public_url: str) -> str:
    """The child's shell command: `exec`, so that stopping it stops the app itself, not a
    shell; nothing in it comes from the request (ids and the token go in the environment)."""
    return f"exec {shlex.quote(sys.executable)} -m runway tui --url {shlex.quote(public_url)}"


class DashboardProcess(AppService):
    """textual-serve's app service with a clean environment and a stop that cannot hang."""

    def __init__(
        self,
        command: str,
        extra: dict[str, str],
        *,
        write_bytes: Callable[[bytes], Awaitable[None]],
        write_str: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(
            command,
            write_bytes=write_bytes,
            write_str=write_str,
            close=close,
            download_manager=DownloadManager(),
        )
        self._extra = extra

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        given = super()._build_environment(width, height)
        clean = {name: value for name, value in given.items() if name in _KEPT or name in _ADDED}
        return {**clean, **self._extra}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def finish(self) -> None:
        """Ask the app to quit; kill it when it has not within a few seconds."""
        process = self._process
        if process is None:
            return
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
    """The app processes of this server, by browser session: counted for the limits, and ended
    at once when their session logs out here."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._running: list[_Running] = []

    def reserve(self, user_id: int, session_id: int) -> asyncio.Event:
        """Count one more app of the user; the event it returns is set to end it.
        LimitReached when the user, or this server, runs as many as allowed."""
        mine = sum(1 for r in self._running if r.user_id == user_id)
        if mine >= self.limits.per_user:
            raise LimitReached(
                f"you have {mine} dashboards open in browser tabs, the most allowed: "
                "close one of them and reload this page"
            )
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
        return len(self._running)


def child_environment(token: str, username: str, deployment: int | None) -> dict[str, str]:
    """What the child learns besides the basics: its token, its user, what to open."""
    extra = {TOKEN_VARIABLE: token, USER_VARIABLE: username, "PYTHONUNBUFFERED": "1"}
    if deployment is not None:
        extra[DEPLOYMENT_VARIABLE] = str(deployment)
    return extra
