"""Deployments: configurations sent, planned and stored, ready to be watched and started."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.config import ConfigError
from runway.http.context import Context, context
from runway.http.errors import ApiError, invalid, not_found
from runway.http.plans import remember, resolved_answers, stored_plan
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
from runway.planner import Plan, plan_source, plan_to_document
from runway.store import HostNotAllowed, HostTaken, InvalidHost, NotFound
from runway.store.records import Deployment, Environment


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
    await _claim_hosts(ctx, env, plan)
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
    remember(ctx, deployment.id, plan)
    view = await full_view(ctx, deployment, plan)
    return JSONResponse(
        view, status_code=201, headers={"Location": f"/api/v1/deployments/{deployment.id}"}
    )


async def _claim_hosts(ctx: Context, env: Environment, plan: Plan) -> None:
    """Claim the configuration's literal hosts for its app in `env` before the deployment is
    stored: 422 `host_not_allowed` outside the installation's allowed domains, 409 `host_taken`
    when another app (anyone's) holds one, naming nothing of who. The app's own hosts are kept
    (a redeploy claims them again). A templated host (`${{ inputs.domain }}`) is known only once
    answered: the executor claims it then, through the same store call. Should storing the
    deployment then fail, the app keeps the claim until its next successful deployment releases
    what it no longer exposes, or its environment is deleted."""
    where = {
        service.expose.host: f"services.{name}.expose.host"
        for name, service in plan.config.services.items()
        if service.expose is not None and "${{" not in service.expose.host
    }
    if not where:
        return
    try:
        await ctx.store.hosts.claim(env.id, plan.app, where)
    except InvalidHost as error:
        raise invalid(
            "the configuration has 1 problem", [_problem(where, error.host, str(error))]
        ) from None
    except HostNotAllowed as error:
        allowed = ", ".join(error.allowed)
        raise ApiError(
            422,
            "host_not_allowed",
            f"hosts must be under the domains this installation allows: {allowed}",
            [
                _problem(where, host, f"'{host}' is not under the allowed domains ({allowed})")
                for host in error.hosts
            ],
        ) from None
    except HostTaken as error:
        raise ApiError(
            409,
            "host_taken",
            str(error),
            [
                _problem(where, host, f"the host {host} is already claimed by another app")
                for host in error.hosts
            ],
        ) from None


def _problem(where: dict[str, str], host: str, message: str) -> dict[str, str]:
    """A problem at the configuration path that exposes `host` (hosts in a configuration are
    normalised already: the format takes lowercase names without a trailing dot)."""
    return {"path": where.get(host, "services"), "message": message}


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
    return JSONResponse(await full_view(context(request), deployment))


async def reread(ctx: Context, deployment: Deployment) -> Deployment:
    """The deployment as stored now (after a change); NotFound when it is gone meanwhile."""
    found = await ctx.store.deployments.get(deployment.id)
    if found is None:
        raise NotFound(f"deployment {deployment.id}")
    return found


async def full_view(
    ctx: Context, deployment: Deployment, plan: Plan | None = None
) -> dict[str, Any]:
    """CONTRACT.md's deployment object, its questions answered as the executor sees them."""
    plan = plan or await stored_plan(ctx, deployment)
    answers = await resolved_answers(ctx, deployment, plan)
    return deployment_view(deployment, plan, answers, ctx.settings.monitor_url(deployment.id))


async def visible_deployment(request: Request, who: Caller) -> Deployment:
    """The deployment of the path, if it is in one of the caller's environments (or the caller is
    an admin); 404 otherwise."""
    deployment_id = path_id(request)
    ctx = context(request)
    found = await ctx.store.deployments.get(deployment_id) if deployment_id is not None else None
    if found is None or (found.owner != who.user.name and not who.user.is_admin):
        raise not_found(f"deployment {request.path_params['id']}")
    return found


routes = [
    Route("/api/v1/environments/{env}/deployments", list_deployments, methods=["GET"]),
    Route("/api/v1/environments/{env}/deployments", create_deployment, methods=["POST"]),
    Route("/api/v1/deployments/{id}", get_deployment, methods=["GET"]),
]
