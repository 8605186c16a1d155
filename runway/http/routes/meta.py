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
    return JSONResponse({"status": "ok", "version": __version__, "cluster": cluster})


async def readyz(request: Request) -> Response:
    """Readiness: the database is reachable and migrated (the cluster is not required)."""
    if await context(request).store.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"error": {"code": "not_ready", "message": "the database is not reachable", "details": []}},
        status_code=503,
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
