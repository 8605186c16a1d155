"""Container logs, read live from the cluster (runway.deploy.logs), never stored.

`GET /api/v1/deployments/{id}/steps/{step}/logs` reads a step's workload (a service's Deployment,
a job's Job of that deployment); `GET /api/v1/environments/{env}/apps/{app}/services/{service}/
logs` a service of the app as its latest deployment that was started has it. `?follow=1` keeps
the answer open while the containers run; `?tail=N` starts from each container's last N lines.
The answer is text/plain, a line per log line; runway's own notices (a container not started
yet) start with `runway:`. 503 without a cluster, 404 for a step or service the deployment does
not have, or a workload that is not in the cluster (yet).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from runway.config.model import ServiceKind
from runway.deploy.apply import RETRY
from runway.deploy.errors import DeployError, NotFound
from runway.deploy.logs import LogLine, workload_logs
from runway.deploy.names import job_name, object_name
from runway.http.context import context
from runway.http.errors import ApiError, invalid, not_found
from runway.http.namespaces import REQUEST_RETRY, require_cluster
from runway.http.plans import stored_plan
from runway.http.requests import caller, storable
from runway.http.routes.deployments import visible_deployment
from runway.http.routes.environments import environment
from runway.store.records import Deployment, Environment

log = logging.getLogger("runway.http")

TAIL_MAX = 100_000
FIRST_LINE_WAIT = 2.0
"""Seconds the first line may take to come before the answer begins without it."""
TEXT = "text/plain; charset=utf-8"
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""No cache keeps logs, and no proxy (nginx) holds a followed stream back."""
_FOLLOW = {"1": True, "true": True, "0": False, "false": False, "": False}


async def step_logs(request: Request) -> Response:
    who = await caller(request)
    deployment = await visible_deployment(request, who)
    ctx = context(request)
    name = request.path_params["step"]
    plan = await stored_plan(ctx, deployment)
    service = plan.config.services.get(name) if storable(name) else None
    if service is None:
        raise not_found(f"step '{name}' of deployment {deployment.number}")
    env = await ctx.store.environments.by_id(deployment.environment_id)
    if env is None:
        raise not_found(f"step '{name}' of deployment {deployment.number}")
    return await _logs(request, env, deployment, name, service.kind)


async def service_logs(request: Request) -> Response:
    who = await caller(request)
    env = await environment(request, who)
    ctx = context(request)
    app, name = request.path_params["app"], request.path_params["service"]
    # The newest deployment that ran: a newer one only created has nothing in the cluster yet.
    ran = await ctx.store.deployments.latest_started(env.id, app)
    latest = ran or next(
        (d for d in await ctx.store.deployments.latest_per_app(env.id) if d.app == app), None
    )
    if latest is None:
        raise not_found(f"app '{app}'")
    plan = await stored_plan(ctx, latest)
    service = plan.config.services.get(name) if storable(name) else None
    if service is None:
        raise not_found(f"service '{name}' of app '{app}'")
    return await _logs(request, env, latest, name, service.kind)


async def _logs(
    request: Request, env: Environment, deployment: Deployment, service: str, kind: ServiceKind
) -> Response:
    follow, tail = _options(request)
    cluster = require_cluster(context(request))
    if request.method == "HEAD":  # what a GET would be, without reading (or following) the logs
        return Response(media_type=TEXT, headers=HEADERS)
    if kind is ServiceKind.JOB:
        workload, name = "Job", job_name(deployment.app, service, deployment.number)
    else:
        workload, name = "Deployment", object_name(deployment.app, service)
    lines = cast(
        AsyncGenerator[LogLine, None],
        workload_logs(
            cluster,
            env.namespace,
            workload,
            name,
            tail_lines=tail,
            follow=follow,
            # A plain read answers soon or not at all; a followed stream reconnects patiently.
            retry=RETRY if follow else REQUEST_RETRY,
        ),
    )
    first: asyncio.Task[LogLine | None] = asyncio.ensure_future(anext(lines, None))
    # Refusals (404, 503) are answered as such when they come at once; a quiet followed
    # stream must not hold back the answer's headers meanwhile.
    await asyncio.wait([first], timeout=FIRST_LINE_WAIT)
    if first.done():
        try:
            first.result()
        except NotFound:
            await lines.aclose()
            raise ApiError(
                404, "not_found", f"{service} has no {workload} in the cluster yet (not deployed?)"
            ) from None
        except DeployError:
            await lines.aclose()
            raise
    return StreamingResponse(_text(first, lines), media_type=TEXT, headers=HEADERS)


def _options(request: Request) -> tuple[bool, int | None]:
    raw_follow = request.query_params.get("follow", "").lower()
    if raw_follow not in _FOLLOW:
        raise invalid("follow must be 1 or 0")
    raw_tail = request.query_params.get("tail")
    tail = None
    if raw_tail is not None:
        if not (raw_tail.isascii() and raw_tail.isdigit()) or int(raw_tail) > TAIL_MAX:
            raise invalid(f"tail must be an integer from 0 to {TAIL_MAX}")
        tail = int(raw_tail)
    return _FOLLOW[raw_follow], tail


async def _text(
    first: asyncio.Task[LogLine | None], lines: AsyncGenerator[LogLine, None]
) -> AsyncIterator[str]:
    """The lines as text; a failure once the answer has begun is its last line. The cluster's
    connections close when the client goes away (the generator is closed with the answer)."""
    try:
        line = await first
        if line is None:
            return
        yield f"{line}\n"
        async for line in lines:
            yield f"{line}\n"
    except DeployError as error:
        log.info("log stream ended: %s", error)
        yield f"runway: the log stream ended: {error}\n"
    finally:
        # The first line may still be on its way (the client left first): stop it before the
        # generator that produces it is closed.
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await lines.aclose()


routes = [
    Route("/api/v1/deployments/{id}/steps/{step}/logs", step_logs, methods=["GET"]),
    Route(
        "/api/v1/environments/{env}/apps/{app}/services/{service}/logs",
        service_logs,
        methods=["GET"],
    ),
]
