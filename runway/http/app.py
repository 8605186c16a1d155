"""The Starlette application: routes, error handlers and the store's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from runway.deploy.connection import Cluster
from runway.http import errors
from runway.http.context import Context
from runway.http.routes import accounts, deployments, environments, installation, meta, users
from runway.http.settings import Settings
from runway.store import Store, StoreError


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    cluster: Cluster | None = None,
    cluster_problem: str | None = None,
) -> Starlette:
    """The API. With `store`, the caller owns it (tests, `runway serve`); without, the app opens
    one from `settings.database_url` when it starts and closes it when it stops. `cluster` is
    where deployments go (owned by the caller), or None with `cluster_problem` saying why."""
    routes = [
        *meta.routes,
        *accounts.routes,
        *users.routes,
        *environments.routes,
        *deployments.routes,
        *installation.routes,
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:
            app.state.runway = _context(store)
            yield
            return
        opened = await Store.open(settings.database_url)
        app.state.runway = _context(opened)
        try:
            yield
        finally:
            await opened.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            errors.ApiError: errors.on_api_error,
            HTTPException: errors.on_http_exception,
            StoreError: errors.on_store_error,
            Exception: errors.on_unexpected,
        },
    )

    def _context(opened: Store) -> Context:
        return Context(settings, opened, cluster=cluster, cluster_problem=cluster_problem)

    if store is not None:  # usable at once, even without a lifespan (httpx's ASGI transport)
        app.state.runway = _context(store)
    return app
