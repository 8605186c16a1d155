"""Health, readiness, and the documents that describe the API and the configuration format."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway import __version__
from runway.config.schema import config_schema
from runway.http.context import context
from runway.http.openapi import openapi_document
from runway.store import StoreError


async def healthz(request: Request) -> Response:
    """Liveness: the process answers. The cluster's reachability is reported, not required."""
    ctx = context(request)
    cluster: dict[str, object] = {"configured": ctx.cluster is not None}
    if ctx.cluster is None:
        cluster["problem"] = ctx.cluster_problem
    else:
        cluster["url"] = ctx.cluster.url
        cluster["simulated"] = ctx.cluster.simulated
        reachable = False
        with anyio.move_on_after(2):  # a liveness probe waits for no cluster
            reachable = await ctx.cluster.reachable()
        cluster["reachable"] = reachable
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "setup_needed": await setup_needed(request),
            "cluster": cluster,
        }
    )


async def setup_needed(request: Request) -> bool | None:
    """Whether nobody has an account yet (the first admin is still to be made with the setup
    token); None when the database does not say within a moment: liveness needs no database.
    Once someone exists it is remembered, and the database is asked no more."""
    state = request.app.state
    if getattr(state, "set_up", False):
        return False
    count = None
    with anyio.move_on_after(2):
        try:
            count = await context(request).store.users.count()
        except (StoreError, OSError):
            return None
    if count is None:
        return None
    if count:
        state.set_up = True
    return count == 0


async def readyz(request: Request) -> Response:
    """Readiness: the database answers, is migrated as far as this runway needs, and nobody is
    migrating it (the cluster is not required). 503 `not_ready` saying which otherwise."""
    problem = await context(request).store.readiness()
    if problem is None:
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"error": {"code": "not_ready", "message": problem, "details": []}}, status_code=503
    )


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(context(request).settings.public_url))


async def config_schema_route(request: Request) -> Response:
    return JSONResponse(config_schema())


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    Route("/api/v1/schema/config", config_schema_route, methods=["GET"]),
]
