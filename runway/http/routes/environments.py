"""Environments: each user's deployment spaces, one namespace each (made sure of in the
cluster when the environment is created, when the cluster lets us: runway.http.namespaces)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.auth import AuthError, check_environment_name
from runway.deploy.errors import NamespaceNotOurs
from runway.http.apps import apps_view
from runway.http.context import context
from runway.http.errors import ApiError, not_found
from runway.http.namespaces import try_namespace
from runway.http.requests import Caller, Fields, caller, json_body, page, storable
from runway.http.views import environment_view
from runway.store import AlreadyExists
from runway.store.records import Environment, OnFailure, User

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
    found, next_cursor = await context(request).store.environments.list(
        user.id, limit=limit, cursor=cursor
    )
    return JSONResponse({"items": [environment_view(e) for e in found], "next_cursor": next_cursor})


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
    return JSONResponse(environment_view(created), status_code=201, headers={"Location": location})


async def get_environment(request: Request) -> Response:
    """The environment with its apps: each app's services (state, URLs) and latest
    deployments (runway.http.apps)."""
    who = await caller(request)
    env = await environment(request, who)
    return JSONResponse({**environment_view(env), "apps": await apps_view(context(request), env)})


async def update_environment(request: Request) -> Response:
    who = await caller(request)
    env = await environment(request, who)
    fields = Fields(await json_body(request), ("on_failure",))
    on_failure = fields.choice("on_failure", _ON_FAILURE)
    fields.done()
    updated = env
    if on_failure is not None:
        updated = (
            await context(request).store.environments.update(
                env.id, on_failure=OnFailure(on_failure)
            )
            or env
        )
    return JSONResponse(environment_view(updated))


async def delete_environment(request: Request) -> Response:
    who = await caller(request)
    env = await environment(request, who)
    await context(request).store.environments.delete(env.id)
    return Response(status_code=204)


routes = [
    Route("/api/v1/environments", list_environments, methods=["GET"]),
    Route("/api/v1/environments", create_environment, methods=["POST"]),
    Route("/api/v1/environments/{env}", get_environment, methods=["GET"]),
    Route("/api/v1/environments/{env}", update_environment, methods=["PATCH"]),
    Route("/api/v1/environments/{env}", delete_environment, methods=["DELETE"]),
]
