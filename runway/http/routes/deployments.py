"""Deployments: configurations sent, planned and stored, ready to be watched and started."""

from __future__ import annotations

from functools import partial
from typing import Literal

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.config import ConfigError
from runway.http.context import Context, context
from runway.http.errors import invalid, not_found
from runway.http.requests import (
    JSON_TYPES,
    YAML_TYPES,
    Caller,
    body_bytes,
    caller,
    page,
    path_id,
    require_media_type,
)
from runway.http.routes.environments import environment
from runway.http.views import deployment_summary, deployment_view
from runway.planner import Plan, plan_from_document, plan_source, plan_to_document
from runway.store.records import Deployment


async def create_deployment(request: Request) -> Response:
    """Plan a configuration and store it with its plan: the deployment is `created`."""
    who = await caller(request)
    env = await environment(request, who)
    ctx = context(request)
    kind = require_media_type(request, JSON_TYPES + YAML_TYPES)
    body = await body_bytes(request)
    fmt: Literal["yaml", "json"] = "json" if kind in JSON_TYPES else "yaml"
    try:
        # Planning 10,000 services takes a third of a second: not on the event loop.
        plan = await to_thread.run_sync(partial(plan_source, body, format=fmt))
    except ConfigError as error:
        count = len(error.problems)
        raise invalid(
            f"the configuration has {count} problem{'s' if count != 1 else ''}",
            [problem.as_dict() for problem in error.problems],
        ) from None
    deployment, _ = await ctx.store.deployments.create(
        env,
        who.user,
        app=plan.app,
        config_text=body.decode("utf-8-sig"),
        config_format=fmt,
        plan=plan_to_document(plan),
        steps=[(step.name, step.kind.value) for step in plan.steps],
        now=ctx.now(),
    )
    _remember(ctx, deployment.id, plan)
    view = deployment_view(deployment, plan, [], ctx.settings.monitor_url(deployment.id))
    return JSONResponse(
        view, status_code=201, headers={"Location": f"/api/v1/deployments/{deployment.id}"}
    )


async def list_deployments(request: Request) -> Response:
    who = await caller(request)
    env = await environment(request, who)
    ctx = context(request)
    limit, cursor = page(request)
    found, next_cursor = await ctx.store.deployments.list(env.id, limit=limit, cursor=cursor)
    items = [deployment_summary(d, ctx.settings.monitor_url(d.id)) for d in found]
    return JSONResponse({"items": items, "next_cursor": next_cursor})


async def get_deployment(request: Request) -> Response:
    who = await caller(request)
    deployment = await visible_deployment(request, who)
    ctx = context(request)
    plan = await stored_plan(ctx, deployment)
    answers = await ctx.store.deployments.answers(deployment.id)
    return JSONResponse(
        deployment_view(deployment, plan, answers, ctx.settings.monitor_url(deployment.id))
    )


async def visible_deployment(request: Request, who: Caller) -> Deployment:
    """The deployment of the path, if it is in one of the caller's environments (or the caller is
    an admin); 404 otherwise."""
    deployment_id = path_id(request)
    ctx = context(request)
    found = await ctx.store.deployments.get(deployment_id) if deployment_id is not None else None
    if found is None or (found.owner != who.user.name and not who.user.is_admin):
        raise not_found(f"deployment {request.path_params['id']}")
    return found


_PLANS_KEPT = 64


async def stored_plan(ctx: Context, deployment: Deployment) -> Plan:
    """The plan as stored (read once per deployment and kept: a plan never changes)."""
    cache = ctx.plans
    plan = cache.get(deployment.id)
    if plan is None:
        plan = await to_thread.run_sync(plan_from_document, deployment.plan)
        _remember(ctx, deployment.id, plan)
    else:
        cache.move_to_end(deployment.id)
    return plan


def _remember(ctx: Context, deployment_id: int, plan: Plan) -> None:
    ctx.plans[deployment_id] = plan
    while len(ctx.plans) > _PLANS_KEPT:
        ctx.plans.popitem(last=False)


routes = [
    Route("/api/v1/environments/{env}/deployments", list_deployments, methods=["GET"]),
    Route("/api/v1/environments/{env}/deployments", create_deployment, methods=["POST"]),
    Route("/api/v1/deployments/{id}", get_deployment, methods=["GET"]),
]
