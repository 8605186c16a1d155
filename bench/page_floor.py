"""The floor of bench/dashboard.py's browser timing: runway's own dashboard page, its static
files and its opening script, served by a bare Starlette app whose websocket sends at once,
with no app process behind it, the bytes the real dashboard sent for the same deployment (its
steps on screen). Timed in the same Chromium the same way, it is what opening a monitor URL
costs the browser itself on this machine (loading textual.js, starting xterm, drawing); the
real opening over it is runway's share."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from runway.http.ui import STATIC_DIRECTORY
from runway.http.ui.assets import Assets
from runway.http.ui.html import app_page


@contextlib.contextmanager
def replaying(screen: bytes) -> Iterator[str]:
    """The URL of a page like the dashboard's whose websocket sends `screen` at once."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listening.getsockname()[1]}"

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(app_page("ann", url.replace("http", "ws", 1) + "/floor/ws"))

    async def replay(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_bytes(screen)
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    app = Starlette(
        routes=[
            Route("/floor", page),
            Route("/ui/static/{path:path}", Assets(STATIC_DIRECTORY).serve),
            WebSocketRoute("/floor/ws", replay),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the floor's server did not start"
        time.sleep(0.02)
    try:
        yield f"{url}/floor"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()
