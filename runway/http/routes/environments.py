"""Environments: each user's deployment spaces, one namespace each (made sure of in the
cluster when the environment is created, when the cluster lets us: runway.http.namespaces)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.auth import AuthError, check_environment_name
from runway.deploy.environments import delete_environment as delete_namespace
from runway.deploy.errors import NamespaceNotOurs
from runway.http.apps import apps_view
from runway.http.context import context
from runway.http.errors import ApiError, conflict, not_found
from runway.http.namespaces import REQUEST_RETRY, try_namespace
from runway.http.requests import Caller, Fields, caller, json_body, page, storable
from runway.http.views import environment_view, restore_point_view
from runway.store import AlreadyExists
from runway.store.records import Environment, OnFailure, User
from runway.store.restore_points import MOST_KEPT

log = logging.getLogger("runway.http")

_ON_FAILURE = tuple(o.value for o in OnFailure)


async def owner(request: Request, who: Caller) -> User:
    """Whose environments a request means: the caller's, or an admin's `?owner=NAME`."""
    name = request.query_params.get("owner")
    if name is None or name == who.user.name:
        return who.user
    found = (
        await context(request).store.users.by_name(name)
        if who.user.is_admin and storable(name)
        else None
    )
    if found is None:
        raise not_found(f"user '{name}'")
    return found


async def environment(request: Request, who: Caller) -> Environment:
    """The environment of the path, if the caller may see it (404 otherwise)."""
    name = request.path_params["env"]
    user = await owner(request, who)
    found = await context(request).store.environments.get(user.id, name) if storable(name) else None
    if found is None:
        raise not_found(f"environment '{name}'")
    return found


async def list_environments(request: Request) -> Response:
    who = await caller(request)
    user = await owner(request, who)
    limit, cursor = page(request)
    store = context(request).store
    found, next_cursor = await store.environments.list(user.id, limit=limit, cursor=cursor)
    kept = await store.restore_points.kept_of(e.id for e in found)
    items = [environment_view(e, kept[e.id]) for e in found]
    return JSONResponse({"items": items, "next_cursor": next_cursor})


async def create_environment(request: Request) -> Response:
    who = await caller(request)
    user = await owner(request, who)
    ctx = context(request)
    fields = Fields(await json_body(request), ("name", "on_failure"))
    name = fields.text("name", limit=64)
    on_failure = fields.choice("on_failure", _ON_FAILURE)
    if name:
        try:
            check_environment_name(name)
        except AuthError as error:
            fields.problem("name", str(error))
    fields.done()
    try:
        created = await ctx.store.environments.create(user, name, ctx.now())
    except AlreadyExists:
        raise ApiError(409, "exists", f"you already have an environment called '{name}'") from None
    try:
        await try_namespace(ctx, created)
    except NamespaceNotOurs as error:
        await ctx.store.environments.delete(created.id)
        raise ApiError(409, "namespace_not_ours", str(error)) from None
    if on_failure is not None and on_failure != created.on_failure.value:
        created = (
            await ctx.store.environments.update(created.id, on_failure=OnFailure(on_failure))
            or created
        )
    location = f"/api/v1/environments/{created.name}"
    if user.id != who.user.id:  # an admin made it for someone: the URL must say whose
        location += f"?owner={user.name}"
    view = environment_view(created, await ctx.store.restore_points.kept(created.id))
    return JSONResponse(view, status_code=201, headers={"Location": location})


async def get_environment(request: Request) -> Response:
    """The environment with its apps: each app's services (state, URLs) and latest
    deployments (runway.http.apps), and the restore points a rollback can go back to."""
    who = await caller(request)
    env = await environment(request, who)
    ctx = context(request)
    kept = await ctx.store.restore_points.kept(env.id)
    points = [restore_point_view(p) for p in await ctx.store.restore_points.live(env.id)]
    return JSONResponse(
        {**environment_view(env, kept), "apps": await apps_view(ctx, env), "restore_points": points}
    )


async def update_environment(request: Request) -> Response:
    who = await caller(request)
    env = await environment(request, who)
    store = context(request).store
    fields = Fields(await json_body(request), ("on_failure", "restore_points_kept"))
    on_failure = fields.choice("on_failure", _ON_FAILURE)
    kept = fields.integer("restore_points_kept", 1, MOST_KEPT)
    fields.done()
    updated = env
    if on_failure is not None:
        updated = await store.environments.update(env.id, on_failure=OnFailure(on_failure)) or env
    if kept is not None:  # the next pruning (after a deployment starts) keeps this many
        await store.restore_points.set_kept(env.id, kept)
    return JSONResponse(environment_view(updated, await store.restore_points.kept(env.id)))


async def delete_environment(request: Request) -> Response:
    """Delete the environment's namespace (its workloads, volumes and Secrets go with it),
    then runway's records of it. Refused while one of its deployments is active (409), and
    kept when the cluster does not answer (503): nothing of the person's is left behind
    unsaid. With no cluster configured at all, only the records go (and the log says so)."""
    who = await caller(request)
    env = await environment(request, who)
    ctx = context(request)
    # Any running one, not only each app's latest: a newer deployment may be merely created.
    active = [d for d in await ctx.store.deployments.active() if d.environment_id == env.id]
    if active:
        raise conflict(
            f"environment '{env.name}' has an active deployment: cancel it or wait until it "
            "ends, then delete the environment",
            [{"active_deployment": {"id": d.id, "number": d.number, "app": d.app}} for d in active],
        )
    if ctx.cluster is None:
        log.warning(
            "environment %s/%s deleted without a cluster: its namespace %s, if one exists, "
            "is left as it is",
            env.owner,
            env.name,
            env.namespace,
        )
    else:
        await delete_namespace(ctx.cluster, env.namespace, REQUEST_RETRY)
    ctx.prepared.discard(env.id)
    await ctx.store.environments.delete(env.id)
    return Response(status_code=204)


routes = [
    Route("/api/v1/environments", list_environments, methods=["GET"]),
    Route("/api/v1/environments", create_environment, methods=["POST"]),
    Route("/api/v1/environments/{env}", get_environment, methods=["GET"]),
    Route("/api/v1/environments/{env}", update_environment, methods=["PATCH"]),
    Route("/api/v1/environments/{env}", delete_environment, methods=["DELETE"]),
]
