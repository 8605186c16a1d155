"""One SSH session: the dashboard of the user who logged in, in a PTY of the client's size.
A shell request opens it; exec requests and subsystems are refused. It gets a short-lived token
of its own (renewed while it runs, revoked when it ends) and a directory of its own for HOME and
working directory (removed when it ends), and ends when the client goes, the app quits, the
server stops, its 12 hours are up, or the token no longer holds (its user disabled, logged out
everywhere)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncssh

from runway.auth import new_token, token_hash
from runway.ssh import terminal
from runway.store import Store, StoreError, Token, TokenKind, User

log = logging.getLogger("runway.ssh")

SESSION_LIMIT = timedelta(hours=12)
"""How long one session runs: a day's work; then the person connects again."""
APP_TOKEN_NAME = "ssh dashboard"
"""The name of every session's token (kind `session`, which nobody can name): how the sessions
of a person are counted across instances."""
APP_TOKEN_LIFETIME = timedelta(minutes=10)
"""The app's token is short-lived and renewed while its session runs: the token of a session
whose server was killed stops working minutes later, not hours, and stops counting against its
person's limit."""
RENEW_EVERY = timedelta(minutes=1)
RESTORE = (
    "\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l"  # no mouse reports
    "\x1b[?2004l\x1b[?7h\x1b[<u"  # no bracketed paste, wrap lines, no Kitty keyboard
    "\x1b[?1049l\x1b[?25h\x1b[?1004l"  # the main screen, the cursor, no focus reports
)
"""What Textual writes when it quits (its Linux driver's stop_application_mode)."""
TYPED_AHEAD = 4096
"""Bytes of keys kept while the app starts (a paste beyond it is cut)."""
CHECK_EVERY = 2.0
"""Seconds between checks that the session's token still holds (another instance may have
disabled its user)."""
CHECK_TIMEOUT = 10.0
"""Seconds one check may take before it counts as failed (a database that hangs must not keep
a session past its end)."""
_SESSION_OVER = "runway: your session's 12 hours are up: connect again to go on"


@dataclass(frozen=True)
class Limits:
    """How many dashboards run over SSH at once, per user and in all (the browser's have the
    same defaults, counted apart)."""

    per_user: int = 4
    """Counted across every instance (the live session tokens in the database)."""
    total: int = 40
    """One app process takes about 35 MB: forty are well under 2 GB."""


class LimitReached(Exception):
    """A new dashboard would pass a limit; says which, for people."""


class Running:
    """How many dashboards this server runs, for its total (the limit per user is counted in the
    database, across instances: `DashboardSession._dashboard`)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._count = 0

    def reserve(self) -> None:
        if self._count >= self.limits.total:
            raise LimitReached(
                "this server runs as many dashboards as it can right now: try again later, "
                "or use `runway tui` on your own machine"
            )
        self._count += 1

    def release(self) -> None:
        self._count -= 1

    def total(self) -> int:
        return self._count


@dataclass(frozen=True)
class Shared:
    """What every session of one server uses."""

    store: Store
    api_url: str
    running: Running
    sessions: set[DashboardSession] = field(default_factory=set)
    """The sessions open now, for the server to end them when it stops."""


class DashboardSession(asyncssh.SSHServerSession[bytes]):
    def __init__(self, shared: Shared, user: User) -> None:
        self._shared = shared
        self._user = user
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._term = terminal.DEFAULT_TERM
        self._size: tuple[int, int] | None = None
        self._child: terminal.Child | None = None
        self._typed_ahead = bytearray()
        """Keys sent while the app starts, for it once it runs."""
        self._gone = asyncio.Event()
        """Set when the client went: nothing more is sent."""
        self._stopping = asyncio.Event()
        """Set when the server stops: the dashboard ends, and says why."""
        self.task: asyncio.Task[None] | None = None
        """Runs the dashboard, from the shell request until everything is cleaned up."""

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan
        self._shared.sessions.add(self)

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: object
    ) -> bool:
        self._term = term_type
        self._size = (term_size[0], term_size[1])
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        log.info("ssh: refused a command from %s (only the dashboard runs)", self._user.name)
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        log.info("ssh: refused the subsystem %r from %s", subsystem[:40], self._user.name)
        return False

    def session_started(self) -> None:
        self.task = asyncio.create_task(self._run())
        self.task.add_done_callback(lambda _: self._shared.sessions.discard(self))

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if self._child is not None:
            self._child.write(data)
        elif len(self._typed_ahead) < TYPED_AHEAD:
            self._typed_ahead += data[: TYPED_AHEAD - len(self._typed_ahead)]

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self._size = (width, height)
        if self._child is not None:
            self._child.resize(width, height)

    def eof_received(self) -> bool:
        self._gone.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone.set()
        if self.task is None:
            self._shared.sessions.discard(self)

    def pause_writing(self) -> None:
        if self._child is not None:
            self._child.pause_output()

    def resume_writing(self) -> None:
        if self._child is not None:
            self._child.resume_output()

    def end(self) -> None:
        """End the dashboard now (the server stops)."""
        self._stopping.set()

    def _send(self, data: bytes) -> None:
        """The app's output to the client, while the channel is open (it closes first when
        the client goes: what the app draws meanwhile goes nowhere)."""
        if self._chan is not None and not self._gone.is_set():
            with contextlib.suppress(BrokenPipeError):
                self._chan.write(data)

    def _say(self, text: str) -> None:
        self._send(f"{text}\r\n".encode())

    def _exit(self, status: int) -> None:
        if self._chan is not None:
            with contextlib.suppress(Exception):
                self._chan.exit(status)

    async def _run(self) -> None:
        if self._stopping.is_set():
            self._exit(1)
            return
        if self._size is None:
            self._say("runway's dashboard needs a terminal: connect with `ssh -t`")
            self._exit(1)
            return
        running, user = self._shared.running, self._user
        try:
            running.reserve()
        except LimitReached as reached:
            self._say(str(reached))
            self._exit(1)
            return
        try:
            self._exit(await self._dashboard())
        except Exception:
            log.exception("ssh: the dashboard of %s failed", user.name)
            self._say("the dashboard could not start; try again")
            self._exit(1)
        finally:
            running.release()

    async def _dashboard(self) -> int:
        store, user = self._shared.store, self._user
        secret = new_token()
        hashed = token_hash(secret)
        started = datetime.now(UTC)
        ends_at = started + SESSION_LIMIT
        app_token = await store.credentials.create_token_within(
            user.id,
            TokenKind.SESSION,
            APP_TOKEN_NAME,
            hashed,
            min(started + APP_TOKEN_LIFETIME, ends_at),
            now=started,
            most=self._shared.running.limits.per_user,
        )
        if app_token is None:
            most = self._shared.running.limits.per_user
            self._say(
                f"you have as many dashboards open over SSH as allowed ({most}): close one of "
                "them and try again"
            )
            return 1
        home = ""
        try:
            # Not the server's HOME nor its working directory: what the app writes stays with
            # the session, and goes with it.
            home = tempfile.mkdtemp(prefix="runway-ssh-")
            assert self._size is not None
            assert self._chan is not None
            chan = self._chan
            self._child = child = await terminal.Child.start(
                terminal.command(self._shared.api_url),
                terminal.environment(self._term, secret, user.name, home),
                *self._size,
                cwd=home,
                output=self._send,
                input_full=lambda full: chan.pause_reading() if full else chan.resume_reading(),
            )
            log.info("ssh: dashboard process %s started for %s", child.pid, user.name)
            if self._typed_ahead:
                child.write(bytes(self._typed_ahead))
            try:
                ended, why = await _first(
                    child.ended.wait(),
                    self._gone.wait(),
                    self._stopping.wait(),
                    _until_invalid(store, user, app_token, hashed, ends_at),
                )
            finally:
                status = await child.stop()
                log.info("ssh: dashboard process %s ended for %s", child.pid, user.name)
            # An app ended from outside had no time to put the terminal back as it found it.
            self._send(RESTORE.encode())
            if ended == 2:
                self._say("runway: the server is stopping")
            elif ended == 3:
                self._say(str(why))
            return status if status >= 0 else 1
        finally:
            if home:
                shutil.rmtree(home, ignore_errors=True)
            try:
                await store.credentials.revoke_token(user.id, app_token.id, datetime.now(UTC))
            except StoreError as error:  # the session went well: its token lapses on its own
                log.warning("ssh: could not revoke a dashboard's token (%s): it expires", error)


async def _first(*waits: Coroutine[Any, Any, object]) -> tuple[int, object]:
    """Once the first of `waits` is done, its index and what it returned; the others are
    cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        first = min(tasks.index(task) for task in done)
        return first, tasks[first].result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _until_invalid(
    store: Store, user: User, app_token: Token, hashed: str, ends_at: datetime
) -> str:
    """Once the session's time is up, or its token (`hashed`) is revoked or expired, or its
    user disabled: what to tell the person. Renews the token meanwhile, never past `ends_at`. A
    check that fails is no answer: the dashboard goes on (the database may come back), and a
    renewal that fails is tried again at the next check."""
    failing = False
    renewed, expires = datetime.now(UTC), app_token.expires_at
    while True:
        await asyncio.sleep(CHECK_EVERY)
        now = datetime.now(UTC)
        if now >= ends_at:
            return _SESSION_OVER
        try:
            async with asyncio.timeout(min(CHECK_TIMEOUT, (ends_at - now).total_seconds())):
                found = await store.credentials.authenticate(hashed, now)
                if found is not None and now - renewed >= RENEW_EVERY:
                    longer = min(now + APP_TOKEN_LIFETIME, ends_at)
                    if await store.credentials.extend_token(user.id, app_token.id, longer):
                        renewed, expires = now, longer
        except Exception as error:
            if not failing:  # once while it fails, not every CHECK_EVERY
                unexpected = not isinstance(error, StoreError | TimeoutError)  # a bug
                log.warning("ssh: cannot check a dashboard's token: %s", error, exc_info=unexpected)
            failing = True
            continue
        failing = False
        if found is None and now >= expires:  # not renewed in time: the database was away
            return "runway: your session could not be renewed in time: connect again to go on"
        if found is None:
            return "runway: your session ended (your account was disabled or logged out)"
