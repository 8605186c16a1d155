"""Starting and cancelling deployments: the API's side of the executor.

Refusals say why: `409 conflict` names the deployment's status and what it can become (or the
app's active deployment, by number and id); `503 cluster_unavailable` when no cluster is
configured or it does not answer, with the deployment left `created`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.executor.states import ACTIVE, check_deployment
from runway.http.context import context, executor
from runway.http.errors import conflict
from runway.http.namespaces import ensure_namespace, require_cluster
from runway.http.requests import caller
from runway.http.routes.deployments import full_view, reread, visible_deployment
from runway.store import NotFound
from runway.store.records import DeploymentStatus

D = DeploymentStatus


async def start_deployment(request: Request) -> Response:
    """`created` -> `running`: the namespace is made sure of, then the executor runs it."""
    who = await caller(request)
    deployment = await visible_deployment(request, who)
    ctx = context(request)
    if deployment.status in ACTIVE:  # the table lets the executor go on from waiting; not start
        raise conflict(
            f"the deployment is {deployment.status}, so it cannot become running: it was "
            "started already",
            [{"status": deployment.status.value}],
        )
    check_deployment(deployment.status, D.RUNNING)  # 409 before anything touches the cluster
    require_cluster(ctx)
    environment = await ctx.store.environments.by_id(deployment.environment_id)
    if environment is None:
        raise NotFound(f"environment {deployment.environment_id}")
    # The cluster's refusals (DeployError) and the store's lost races are answered by the
    # app's handlers (runway.http.errors.refusal).
    await ensure_namespace(ctx, environment)
    await executor(request).start(deployment)
    return JSONResponse(await full_view(ctx, await reread(ctx, deployment)))


async def cancel_deployment(request: Request) -> Response:
    """Cancel a `created`, `running` or `waiting_for_input` deployment: answers once it is
    `cancelled` (a running one after its applies settled)."""
    who = await caller(request)
    deployment = await visible_deployment(request, who)
    ctx = context(request)
    check_deployment(deployment.status, D.CANCELLED)
    running = executor(request)
    if deployment.status in ACTIVE and not running.running(deployment.id):
        # Its steps are ended by a run of it, which needs the cluster.
        require_cluster(ctx)
    await running.cancel(deployment)
    return JSONResponse(await full_view(ctx, await reread(ctx, deployment)))


routes = [
    Route("/api/v1/deployments/{id}/start", start_deployment, methods=["POST"]),
    Route("/api/v1/deployments/{id}/cancel", cancel_deployment, methods=["POST"]),
]
