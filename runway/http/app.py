"""The Starlette application: routes, error handlers and the store's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from runway.http import errors
from runway.http.context import Context
from runway.http.routes import accounts, deployments, environments, meta, users
from runway.http.settings import Settings
from runway.store import Store, StoreError


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """The API. With `store`, the caller owns it (tests, `runway serve`); without, the app opens
    one from `settings.database_url` when it starts and closes it when it stops."""
    routes = [
        *meta.routes,
        *accounts.routes,
        *users.routes,
        *environments.routes,
        *deployments.routes,
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:
            app.state.runway = Context(settings, store)
            yield
            return
        opened = await Store.open(settings.database_url)
        app.state.runway = Context(settings, opened)
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
    if store is not None:  # usable at once, even without a lifespan (httpx's ASGI transport)
        app.state.runway = Context(settings, store)
    return app
