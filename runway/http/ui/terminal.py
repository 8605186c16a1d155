"""The dashboard's websocket: accepted only with a valid browser session and the public URL's
`Origin`; it runs one app process for the tab, with a token of its own user that is revoked
when the process ends, and ends it when the tab closes, the session logs out or expires, or
the user is disabled.

Browser to server: JSON text frames `["stdin", s]`, `["resize", {width, height}]`,
`["ping", x]`, `["focus"]`, `["blur"]`; server to browser: terminal bytes, and `["pong", x]`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from asyncio.subprocess import Process
from collections.abc import Coroutine
from datetime import timedelta

from starlette.websockets import WebSocket, WebSocketDisconnect

from runway.auth import new_token, token_hash
from runway.http.context import Context
from runway.http.ui import browser
from runway.http.ui.processes import Assignment, DashboardProcess, LimitReached, Processes
from runway.store import StoreError
from runway.store.records import Token, TokenKind

log = logging.getLogger("runway.http.ui")

APP_TOKEN_NAME = "browser dashboard"
"""The name of every tab's app token (kind `session`, which nobody can name): how the tabs of
a person are counted across instances."""
APP_TOKEN_LIFETIME = timedelta(minutes=10)
"""The app's own token is short-lived, renewed while its tab runs: the tabs of an instance
that vanished stop counting against their person's limit a few minutes later."""
RENEW_EVERY = timedelta(minutes=1)
CHECK_EVERY = 2.0
"""Seconds between checks that the session still holds (another instance may have ended it)."""
POLICY_VIOLATION = 1008


def _context(websocket: WebSocket) -> Context:
    found = websocket.app.state.runway
    assert isinstance(found, Context)
    return found


def _size(websocket: WebSocket, name: str, default: int) -> int:
    value = websocket.query_params.get(name, "")
    return min(int(value), 1000) if value.isdecimal() and int(value) > 0 else default


class Terminal:
    """The websocket endpoint, sharing one `Processes` (the limits) across its connections."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes

    async def serve(self, websocket: WebSocket) -> None:
        ctx = _context(websocket)
        # Closed before accepting: uvicorn answers 403 and no app process starts.
        if not browser.same_origin(ctx, websocket):
            await websocket.close(POLICY_VIOLATION)
            return
        session = await browser.current(ctx, websocket)
        if session is None:
            await websocket.close(POLICY_VIOLATION)
            return
        raw = websocket.path_params.get("deployment")
        deployment = int(raw) if raw is not None else None
        await websocket.accept()
        try:
            ended = self.processes.reserve(session.user.id, session.token.id)
        except LimitReached as reached:
            await _refuse(websocket, str(reached))
            return
        app_token: Token | None = None
        process: DashboardProcess | None = None
        try:
            secret = new_token()
            app_token = await self._app_token(ctx, session, secret)
            if app_token is None:
                await _refuse(
                    websocket,
                    f"you have {self.processes.limits.per_user} dashboards open in browser "
                    "tabs, the most allowed: close one of them and reload this page",
                )
                return
            process = _process(
                await self.processes.child(ctx.settings.public_url),
                Assignment(secret, session.user.name, deployment),
                websocket,
                ended,
            )
            size = (_size(websocket, "width", 80), _size(websocket, "height", 24))
            await process.start(*size)
            log.info("dashboard process %s started for %s", process.pid, session.user.name)
            await _until_ended(ctx, websocket, process, session, app_token, ended, size)
        finally:
            ended.set()
            await _shielded(self._end(ctx, websocket, session, app_token, process, ended))

    async def _end(
        self,
        ctx: Context,
        websocket: WebSocket,
        session: browser.BrowserSession,
        app_token: Token | None,
        process: DashboardProcess | None,
        ended: asyncio.Event,
    ) -> None:
        """Stop the app, revoke its token, and count it no more."""
        try:
            if process is not None:
                await process.finish()
                log.info("dashboard process %s ended for %s", process.pid, session.user.name)
            if app_token is not None:
                await ctx.store.credentials.revoke_token(session.user.id, app_token.id, ctx.now())
        finally:
            self.processes.release(ended)
            with contextlib.suppress(Exception):
                await websocket.close()

    async def _app_token(
        self, ctx: Context, session: browser.BrowserSession, secret: str
    ) -> Token | None:
        """The tab's own token, unless its person has as many tabs open as allowed on all the
        instances together (their live app tokens in the database): None then."""
        now = ctx.now()
        return await ctx.store.credentials.create_token_within(
            session.user.id,
            TokenKind.SESSION,
            APP_TOKEN_NAME,
            token_hash(secret),
            now + APP_TOKEN_LIFETIME,
            now=now,
            most=self.processes.limits.per_user,
        )


def _process(
    child: Process, assignment: Assignment, websocket: WebSocket, ended: asyncio.Event
) -> DashboardProcess:
    """The app service of a tab: the app's output to the tab until it has ended."""

    async def write_bytes(data: bytes) -> None:
        if not ended.is_set():
            with contextlib.suppress(Exception):  # the tab may be gone already
                await websocket.send_bytes(data)

    async def write_str(data: str) -> None:
        if not ended.is_set():
            with contextlib.suppress(Exception):
                await websocket.send_text(data)

    async def app_closed() -> None:
        ended.set()

    return DashboardProcess(
        child, assignment, write_bytes=write_bytes, write_str=write_str, close=app_closed
    )


async def _until_ended(
    ctx: Context,
    websocket: WebSocket,
    process: DashboardProcess,
    session: browser.BrowserSession,
    app_token: Token,
    ended: asyncio.Event,
    size: tuple[int, int],
) -> None:
    """The tab's input to the app until the tab closes, the app exits, or the session ends."""
    tasks = [
        asyncio.create_task(_pump(websocket, process, size)),
        asyncio.create_task(_watch(ctx, session, app_token, ended)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


_ENDING: set[asyncio.Task[None]] = set()


async def _shielded(work: Coroutine[object, object, None]) -> None:
    """Run `work` to its end even when this task is cancelled (a server stopping, a test
    client closing): an app must not outlive its tab, nor its token stay valid."""
    task = asyncio.ensure_future(work)
    _ENDING.add(task)
    task.add_done_callback(_ENDING.discard)
    await asyncio.shield(task)


async def _refuse(websocket: WebSocket, why: str) -> None:
    await websocket.send_bytes(f"\r\n  {why}\r\n".encode())
    await websocket.close(POLICY_VIOLATION, "too many dashboards")


async def _pump(websocket: WebSocket, process: DashboardProcess, size: tuple[int, int]) -> None:
    """The browser's frames to the app, until the tab closes. A resize to the size the app has
    already is not passed on: the page sends one as soon as it is connected, with the size it
    opened the websocket with, and Textual lays out and redraws every screen for it."""
    try:
        while True:
            text = await websocket.receive_text()
            try:
                envelope = json.loads(text)
            except ValueError:
                continue
            if not isinstance(envelope, list) or not envelope:
                continue
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin" and isinstance(data, str):
                await process.send_bytes(data.encode("utf-8"))
            elif kind == "resize" and isinstance(data, dict):
                width, height = data.get("width"), data.get("height")
                if isinstance(width, int) and isinstance(height, int) and (width, height) != size:
                    size = (width, height)
                    await process.set_terminal_size(width, height)
            elif kind == "ping":
                await websocket.send_text(json.dumps(["pong", data]))
            elif kind == "focus":
                await process.focus()
            elif kind == "blur":
                await process.blur()
    except (WebSocketDisconnect, RuntimeError, KeyError):
        return  # closed, or a binary frame (the browser sends none)


async def _watch(
    ctx: Context, session: browser.BrowserSession, app_token: Token, ended: asyncio.Event
) -> None:
    """Returns when the app must end: its app exited or its session logged out here (`ended`),
    or the session no longer holds (logged out elsewhere, expired, its user disabled). Renews
    the app's token meanwhile."""
    renewed = ctx.now()
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CHECK_EVERY):
                await ended.wait()
                return
        if not await browser.still_valid(ctx, session):
            return
        now = ctx.now()
        if now - renewed >= RENEW_EVERY:
            try:
                await ctx.store.credentials.extend_token(
                    session.user.id, app_token.id, now + APP_TOKEN_LIFETIME
                )
                renewed = now
            except StoreError as error:  # tried again at the next check
                log.warning("could not renew a dashboard's token: %s", error)
