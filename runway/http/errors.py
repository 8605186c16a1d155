"""The API's error shape, `{"error": {"code", "message", "details"}}`, for every failure."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runway.deploy.errors import (
    ClusterUnavailable,
    DeployError,
    NamespaceNotOurs,
    TemporaryError,
)
from runway.executor.states import DEPLOYMENT, TransitionError
from runway.http.access import loggable
from runway.store import (
    DatabaseUnavailable,
    HostNotAllowed,
    HostTaken,
    InvalidCursor,
    InvalidHost,
    NotFound,
)
from runway.store.records import DeploymentStatus
from runway.store.transitions import ActiveDeployment, StatusChanged

log = logging.getLogger("runway.http")
_STATUSES = frozenset(status.value for status in DeploymentStatus)


class ApiError(Exception):
    """A refusal the client gets as `status` with the error shape; raise it from any handler."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = headers


def not_found(what: str) -> ApiError:
    """404, also for what exists but belongs to someone else (never 403: nothing leaks)."""
    return ApiError(404, "not_found", f"{what} not found")


def invalid(message: str, details: Sequence[dict[str, Any]] = ()) -> ApiError:
    """422: the request is well-formed but its content is not acceptable."""
    return ApiError(422, "invalid", message, details)


def error_response(
    status: int,
    code: str,
    message: str,
    details: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": list(details)}}
    return JSONResponse(body, status_code=status, headers=headers)


def conflict(message: str, details: Sequence[dict[str, Any]] = ()) -> ApiError:
    """409: what was asked cannot be done in the current state; the message says why."""
    return ApiError(409, "conflict", message, details)


def cluster_unavailable(message: str) -> ApiError:
    """503: no cluster is configured, or it does not answer; nothing was changed."""
    return ApiError(503, "cluster_unavailable", message)


def refusal(error: Exception) -> ApiError | None:
    """The answer for a refusal of the executor, the store's status changes or the cluster,
    saying why in words a person can act on; None for anything else. Messages of the cluster
    layer never hold a secret value (runway.deploy scrubs them)."""
    if isinstance(error, TransitionError):
        return conflict(str(error), [{"status": str(error.current)}])
    if isinstance(error, StatusChanged):
        message = str(error)
        if error.what.startswith("deployment") and error.current in _STATUSES:
            onward = sorted(DEPLOYMENT[DeploymentStatus(error.current)])
            message += f" (it can become {', '.join(onward) or 'nothing: it is final'})"
        return conflict(message, [{"status": error.current}])
    if isinstance(error, ActiveDeployment):
        return conflict(
            f"{error} (deployment id {error.id}): cancel it or wait until it ends, then start "
            "this one",
            [{"active_deployment": {"id": error.id, "number": error.number}}],
        )
    if isinstance(error, NamespaceNotOurs):
        return ApiError(409, "namespace_not_ours", str(error))
    if isinstance(error, ClusterUnavailable):
        return cluster_unavailable(str(error))
    if isinstance(error, TemporaryError):
        return cluster_unavailable(f"the cluster cannot be used now: {error}")
    if isinstance(error, DeployError):
        return ApiError(502, "cluster_error", f"the cluster refused: {error}")
    return None


async def on_refusal(request: Request, exc: Exception) -> Response:
    """A refusal no handler answered itself (see `refusal`)."""
    found = refusal(exc)
    if found is None:
        return await on_unexpected(request, exc)
    return await on_api_error(request, found)


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if exc.status_code != 404 else f"no such path: {request.url.path}"
    return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))


async def on_store_error(request: Request, exc: Exception) -> Response:
    """The store's refusals that reach a handler: a row gone meanwhile, a cursor not ours, a
    database that went away; and host claims a handler did not answer itself (creating a
    deployment does, with the configuration path of each host): `host_taken` (409, naming
    nothing of who holds the host) and `host_not_allowed` (422, listing the allowed domains)."""
    if isinstance(exc, HostTaken):
        return error_response(409, "host_taken", str(exc))
    if isinstance(exc, HostNotAllowed):
        return error_response(422, "host_not_allowed", str(exc))
    if isinstance(exc, InvalidHost):
        return error_response(422, "invalid", str(exc))
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"{exc.what} not found")
    if isinstance(exc, InvalidCursor):
        return error_response(422, "invalid", "cursor is not one this server gave out")
    if isinstance(exc, StatusChanged | ActiveDeployment):
        return await on_refusal(request, exc)
    if isinstance(exc, DatabaseUnavailable):
        log.error(
            "database unavailable on %s %s: %s", request.method, loggable(request.url.path), exc
        )
        return error_response(503, "database_unavailable", "the database is not reachable")
    return await on_unexpected(request, exc)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    # Logged with its traceback for the operator; the client learns only that it was our fault.
    log.exception("internal error on %s %s", request.method, loggable(request.url.path))
    return error_response(500, "internal", "internal error; the server log has the details")
