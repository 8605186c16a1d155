"""Rolling back a deployment (`POST /api/v1/deployments/{id}/rollback`): without `confirm`, the
dry run (`200`: what changes, which volumes go back to which moment, which data is lost since
when); with `confirm` equal to the environment's name, the rollback deployment (`201`,
`rollback_of: id`), started at once. Refusals (`409 rollback_refused`) say why: no earlier
success, another deployment of the app active, a restore point missing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.deploy.errors import DeployError
from runway.executor.rollback import RollbackRefused, create, dry_run, prepare
from runway.http.context import context, executor
from runway.http.errors import ApiError, invalid
from runway.http.namespaces import ensure_namespace, require_cluster
from runway.http.requests import Fields, caller, json_body
from runway.http.routes.deployments import full_view, reread, visible_deployment
from runway.store import NotFound


async def rollback_deployment(request: Request) -> Response:
    who = await caller(request)
    deployment = await visible_deployment(request, who)
    ctx = context(request)
    # No body at all is the plain dry run (`curl -X POST .../rollback`).
    body = await json_body(request) if request.headers.get("content-type") else {}
    fields = Fields(body, ("confirm",))
    confirm = fields.optional_text("confirm", limit=200)
    fields.done()
    environment = await ctx.store.environments.by_id(deployment.environment_id)
    if environment is None:
        raise NotFound(f"environment {deployment.environment_id}")
    try:
        rollback = await prepare(ctx.store, ctx.cluster, environment, deployment)
    except RollbackRefused as error:
        raise ApiError(409, "rollback_refused", str(error)) from None
    except DeployError as error:  # the cluster could not say whether the backups are there
        raise ApiError(503, "cluster_unavailable", str(error)) from None
    if confirm is None:
        return JSONResponse(dry_run(rollback))
    if confirm != environment.name:
        raise invalid(
            f"confirm must be the environment's name, {environment.name!r}, to roll back",
            [{"path": "confirm", "message": f"expected {environment.name!r}"}],
        )
    require_cluster(ctx)
    await ensure_namespace(ctx, environment)
    created = await create(ctx.store, rollback, who.user, ctx.now())
    await executor(request).start(created)
    view = await full_view(ctx, await reread(ctx, created))
    return JSONResponse(
        view, status_code=201, headers={"Location": f"/api/v1/deployments/{created.id}"}
    )


routes = [
    Route("/api/v1/deployments/{id}/rollback", rollback_deployment, methods=["POST"]),
]
