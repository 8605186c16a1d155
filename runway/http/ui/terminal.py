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
from datetime import timedelta

from starlette.websockets import WebSocket, WebSocketDisconnect

from runway.auth import new_token, token_hash
from runway.http.context import Context
from runway.http.ui import browser
from runway.http.ui.processes import (
    DashboardProcess,
    LimitReached,
    Processes,
    child_environment,
    command,
)
from runway.store.records import TokenKind

log = logging.getLogger("runway.http.ui")

APP_TOKEN_LIFETIME = timedelta(hours=12)
"""The app's own token lives no longer than a browser session can."""
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
            await websocket.send_bytes(f"\r\n  {reached}\r\n".encode())
            await websocket.close(POLICY_VIOLATION, "too many dashboards")
            return
        try:
            await self._run(ctx, websocket, session, deployment, ended)
        finally:
            self.processes.release(ended)

    async def _run(
        self,
        ctx: Context,
        websocket: WebSocket,
        session: browser.BrowserSession,
        deployment: int | None,
        ended: asyncio.Event,
    ) -> None:
        secret = new_token()
        app_token = await ctx.store.credentials.create_token(
            session.user.id,
            TokenKind.API,
            "browser dashboard",
            token_hash(secret),
            ctx.now() + APP_TOKEN_LIFETIME,
        )

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

        process = DashboardProcess(
            command(ctx.settings.public_url),
            child_environment(secret, session.user.name, deployment),
            write_bytes=write_bytes,
            write_str=write_str,
            close=app_closed,
        )
        try:
            await process.start(_size(websocket, "width", 80), _size(websocket, "height", 24))
            log.info("dashboard process %s started for %s", process.pid, session.user.name)
            tasks = [
                asyncio.create_task(_pump(websocket, process)),
                asyncio.create_task(_watch(ctx, session, ended)),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            ended.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            ended.set()
            await process.finish()
            await ctx.store.credentials.revoke_token(session.user.id, app_token.id, ctx.now())
            with contextlib.suppress(Exception):
                await websocket.close()
            log.info("dashboard process %s ended for %s", process.pid, session.user.name)


async def _pump(websocket: WebSocket, process: DashboardProcess) -> None:
    """The browser's frames to the app, until the tab closes."""
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
                if isinstance(width, int) and isinstance(height, int):
                    await process.set_terminal_size(width, height)
            elif kind == "ping":
                await websocket.send_text(json.dumps(["pong", data]))
            elif kind == "focus":
                await process.focus()
            elif kind == "blur":
                await process.blur()
    except (WebSocketDisconnect, RuntimeError, KeyError):
        return  # closed, or a binary frame (the browser sends none)


async def _watch(ctx: Context, session: browser.BrowserSession, ended: asyncio.Event) -> None:
    """Returns when the app must end: its app exited or its session logged out here (`ended`),
    or the session no longer holds (logged out elsewhere, expired, its user disabled)."""
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CHECK_EVERY):
                await ended.wait()
                return
        if not await browser.still_valid(ctx, session):
            return
