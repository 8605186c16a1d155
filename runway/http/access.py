"""The access log, without the secrets some paths carry."""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("runway.access")

_SECRET_SEGMENTS = re.compile(r"^(/api/v1/invites/|/ui/invite/)[^/?]+")


def loggable(path: str) -> str:
    """The path with any secret it carries replaced (an invite link works until it is used)."""
    return _SECRET_SEGMENTS.sub(r"\1…", path)


class AccessLog:
    """Logs each request as `client method path status duration`, like uvicorn's access log,
    but through `loggable`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            path = loggable(scope["path"])
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            log.info(
                '%s "%s %s" %d %.1f ms',
                client[0],
                scope["method"],
                path,
                status,
                elapsed,
                # Fields of their own in the JSON log (runway.cli.log_format).
                extra={
                    "client": client[0],
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": elapsed,
                },
            )
