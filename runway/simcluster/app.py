"""The Starlette app of a simulated cluster: routes, bearer-token check, request recording."""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runway.simcluster import discovery
from runway.simcluster.errors import ApiError, NoRoute, Unauthorized
from runway.simcluster.routes import handle, json_response, status_response

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

log = logging.getLogger("runway.simcluster")

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# What an unauthenticated client may read on a real cluster (system:public-info-viewer).
_PUBLIC = ("/version", "/version/", "/healthz", "/livez", "/readyz")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulated cluster received (for tests that check what a client sent)."""

    time: float
    method: str
    path: str
    query: str
    user_agent: str
    status: int


def create_app(cluster: SimCluster, admin: bool = False) -> Starlette:
    """The ASGI app serving one simulated cluster's API (with the test-only `/_sim` admin API
    and its injected faults when `admin`)."""

    async def api(request: Request) -> Response:
        parts = [p for p in request.url.path.split("/") if p]
        try:
            return await handle(cluster, request, parts)
        except NoRoute:
            return _page_not_found()
        except ApiError as error:
            return status_response(error.status())
        except Exception as error:  # a simulator bug: say so as a real server would, log it
            log.exception("runway-sim (simulated): %s %s failed", request.method, request.url.path)
            return status_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"Internal error occurred: {error}",
                    "reason": "InternalError",
                    "code": 500,
                }
            )

    async def version(request: Request) -> Response:
        return json_response(discovery.version())

    async def openapi_v2(request: Request) -> Response:
        return Response(discovery.OPENAPI_V2, media_type="application/octet-stream")

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def not_found(request: Request) -> Response:
        return _page_not_found()

    routes: list[BaseRoute] = [
        Route("/version", version),
        Route("/version/", version),
        Route("/openapi/v2", openapi_v2),
        Route("/healthz", healthy),
        Route("/livez", healthy),
        Route("/readyz", healthy),
        Route("/api", api, methods=_METHODS),
        Route("/apis", api, methods=_METHODS),
        Route("/api/{rest:path}", api, methods=_METHODS),
        Route("/apis/{rest:path}", api, methods=_METHODS),
        Route("/{rest:path}", not_found, methods=_METHODS),
    ]
    if admin:  # imported here: the admin API imports this module
        from runway.simcluster.admin import create_admin_app
        from runway.simcluster.faults import FaultInjector

        routes.insert(0, Mount("/_sim", app=create_admin_app(cluster)))
    app = Starlette(routes=routes)
    if admin:
        app.add_middleware(FaultInjector, cluster=cluster)
    app.add_middleware(_BearerToken, cluster=cluster)
    app.add_middleware(_Recorder, cluster=cluster)
    return app


def _page_not_found() -> Response:
    """What a real server answers for a path no API serves: plain text, not a Status."""
    return PlainTextResponse("404 page not found\n", status_code=404)


class _BearerToken:
    """With TLS, every request but the public ones needs the cluster's bearer token."""

    def __init__(self, app: ASGIApp, cluster: SimCluster) -> None:
        self.app = app
        self.cluster = cluster

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = self.cluster.token
        if scope["type"] != "http" or token is None or scope["path"] in _PUBLIC:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            await self.app(scope, receive, send)
            return
        response = status_response(Unauthorized().status())
        await response(scope, receive, send)


class _Recorder:
    """Keeps every request's method, path and User-Agent (bounded) for the test admin API."""

    def __init__(self, app: ASGIApp, cluster: SimCluster) -> None:
        self.app = app
        self.cluster = cluster

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self._record(scope, status)
            await send(message)

        await self.app(scope, receive, sending)

    def _record(self, scope: Scope, status: int) -> None:
        headers = dict(scope["headers"])
        self.cluster.requests.append(
            RecordedRequest(
                time=time.time(),
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
                status=status,
            )
        )
