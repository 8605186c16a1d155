"""Revealing a secret input's value to the environment's owner (or an admin), e.g. a password
runway generated: `POST /api/v1/environments/{env}/apps/{app}/secrets/{input}/reveal`.

The value is read from the Kubernetes Secret of the app's latest answer to that input (it is
nowhere else), and the reading is recorded as a `reveal` event on that answer's deployment,
naming the input and who read it, never the value. A POST, not a GET: it changes something (the
event), and no cache or browser history keeps the answer (`Cache-Control: no-store`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.deploy import SecretRef
from runway.deploy.errors import NotFound as SecretGone
from runway.deploy.input_secrets import read_secret_input
from runway.http.context import Context, context
from runway.http.errors import not_found
from runway.http.namespaces import require_cluster
from runway.http.requests import caller, storable
from runway.http.routes.environments import environment
from runway.store.records import Deployment, Environment

PAGE = 50
SEARCHED = 1000
"""Deployments of the environment looked through for the latest answer, newest first."""


async def reveal_secret(request: Request) -> Response:
    who = await caller(request)
    env = await environment(request, who)
    ctx = context(request)
    app, name = request.path_params["app"], request.path_params["input"]
    found = await _latest_answer(ctx, env, app, name) if storable(app + name) else None
    if found is None:
        raise not_found(f"a secret answer to input '{name}' of app '{app}'")
    deployment, ref = found
    cluster = require_cluster(ctx)
    try:
        value = await read_secret_input(cluster, env.namespace, ref)
    except SecretGone:
        raise not_found(f"the Secret of input '{name}' of app '{app}'") from None
    await ctx.store.deployments.add_event(
        deployment.id,
        "reveal",
        {"input": name, "reason": f"revealed to {who.user.name}"},
        ctx.now(),
    )
    return JSONResponse(
        {
            "input": name,
            "app": app,
            "value": value,
            "secret": ref.name,
            "deployment": {"id": deployment.id, "number": deployment.number},
        },
        headers={"Cache-Control": "no-store"},
    )


async def _latest_answer(
    ctx: Context, env: Environment, app: str, name: str
) -> tuple[Deployment, SecretRef] | None:
    """The app's newest deployment with a secret answer to `name`, and that answer."""
    cursor: str | None = None
    for _ in range(SEARCHED // PAGE):
        page, cursor = await ctx.store.deployments.list(env.id, limit=PAGE, cursor=cursor)
        for deployment in page:
            if deployment.app != app:
                continue
            for answer in await ctx.store.deployments.answers(deployment.id):
                if answer.input == name and answer.secret_name and answer.secret_key:
                    return deployment, SecretRef(answer.secret_name, answer.secret_key)
        if cursor is None:
            break
    return None


routes = [
    Route(
        "/api/v1/environments/{env}/apps/{app}/secrets/{input}/reveal",
        reveal_secret,
        methods=["POST"],
    ),
]
