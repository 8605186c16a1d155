"""The dashboard in the browser, on the API's own host and port: runway's pages, textual-serve's
static files (from the installed package: no request leaves the host; compressed, cacheable),
and the websocket that runs one dashboard process per tab."""

from __future__ import annotations

from pathlib import Path

import textual_serve
from starlette.routing import BaseRoute, Route, WebSocketRoute

from runway.http.ui import pages
from runway.http.ui.assets import Assets
from runway.http.ui.processes import Limits, Processes
from runway.http.ui.terminal import Terminal

__all__ = ["Limits", "Processes", "routes"]

STATIC_DIRECTORY = Path(textual_serve.__file__).parent / "static"


def routes(processes: Processes | None = None) -> list[BaseRoute]:
    """The `/ui` routes, sharing `processes` (the limits on app processes)."""
    running = processes if processes is not None else Processes(Limits())
    terminal = Terminal(running)
    return [
        Route("/ui/login", pages.login_page(running), methods=["GET"]),
        Route("/ui/login", pages.login(running), methods=["POST"]),
        Route("/ui/logout", pages.logout(running), methods=["POST"]),
        Route("/ui/", pages.dashboard(running), methods=["GET"]),
        Route("/ui/deployments/{id:int}", pages.dashboard(running), methods=["GET"]),
        Route("/ui/invite/{token}", pages.invite_page, methods=["GET"]),
        Route("/ui/invite/{token}", pages.accept_invite, methods=["POST"]),
        WebSocketRoute("/ui/ws", terminal.serve),
        WebSocketRoute("/ui/ws/{deployment:int}", terminal.serve),
        Route("/ui/static/{path:path}", Assets(STATIC_DIRECTORY).serve, methods=["GET", "HEAD"]),
    ]
