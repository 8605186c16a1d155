"""The Starlette application: routes, error handlers, and the lifetimes of the store and the
executor."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError
from runway.executor.executor import Executor
from runway.executor.states import TransitionError
from runway.http import errors
from runway.http.context import Context
from runway.http.housekeeping import keep_tidy
from runway.http.installation import keep_applied, refresh
from runway.http.metrics import Metrics, RequestMetrics
from runway.http.metrics import routes as metrics_routes
from runway.http.routes import (
    accounts,
    deployments,
    environments,
    events,
    inputs,
    installation,
    logs,
    meta,
    reveal,
    rollback,
    runs,
    users,
)
from runway.http.settings import Settings
from runway.http.ui import Limits as UiLimits
from runway.http.ui import Processes
from runway.http.ui import routes as ui_routes
from runway.store import Store, StoreError

log = logging.getLogger("runway.http")


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    cluster: Cluster | None = None,
    cluster_problem: str | None = None,
) -> Starlette:
    """The API. With `store`, the caller owns it (tests, `runway serve`); without, the app opens
    one from `settings.database_url` when it starts and closes it when it stops. `cluster` is
    where deployments go (owned by the caller), or None with `cluster_problem` saying why.

    The app's executor runs the deployments it starts; the lifespan resumes those left running
    when it starts and stops them (without writing: the next start resumes them) when it stops.
    Without a lifespan (httpx's ASGI transport), whoever made the app closes
    `app.state.runway.executor`."""
    processes = Processes(UiLimits())
    metrics = Metrics(processes.count, settings.metrics_token)
    routes = [
        *meta.routes,
        *metrics_routes,
        *accounts.routes,
        *users.routes,
        *environments.routes,
        *deployments.routes,
        *runs.routes,
        *inputs.routes,
        *events.routes,
        *logs.routes,
        *reveal.routes,
        *rollback.routes,
        *installation.routes,
        *ui_routes(processes),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:
            async with _running(app.state.runway):
                yield
            return
        opened = await Store.open(settings.database_url)
        try:
            app.state.runway = _context(opened)
            async with _running(app.state.runway):
                yield
        finally:
            await opened.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestMetrics, metrics=metrics, routes=routes)],
        exception_handlers={
            errors.ApiError: errors.on_api_error,
            HTTPException: errors.on_http_exception,
            StoreError: errors.on_store_error,
            TransitionError: errors.on_refusal,
            DeployError: errors.on_refusal,
            Exception: errors.on_unexpected,
        },
    )

    def _context(opened: Store) -> Context:
        executor = Executor(
            opened,
            cluster,
            limits=settings.limits,
            settings=settings.render,
            cluster_problem=cluster_problem,
            instance=settings.instance,
        )
        return Context(
            settings, opened, cluster=cluster, cluster_problem=cluster_problem, executor=executor
        )

    app.state.metrics = metrics
    app.state.processes = processes
    app.state.start_settings = settings
    if store is not None:  # usable at once, even without a lifespan (httpx's ASGI transport)
        app.state.runway = _context(store)
    return app


@asynccontextmanager
async def _running(ctx: Context) -> AsyncIterator[None]:
    """The executor from start-up to shutdown: deployments left active are resumed (a database
    that does not answer then is logged, and the server serves anyway). The installation's
    stored settings are applied first, and read again while it runs."""
    executor = ctx.executor
    assert executor is not None
    start = ctx.settings
    await refresh(ctx, start)
    applying = asyncio.create_task(keep_applied(ctx, start), name="runway settings")
    try:
        await executor.resume()
    except StoreError as error:
        log.error("could not resume the deployments left running: %s", error)
    tidying = asyncio.create_task(keep_tidy(ctx.store), name="runway housekeeping")
    try:
        yield
    finally:
        tidying.cancel()
        applying.cancel()
        await asyncio.gather(tidying, applying, return_exceptions=True)
        await executor.close()
