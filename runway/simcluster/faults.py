"""Injected faults: what a real cluster sometimes does to its clients, on demand (test-only).

Set through the admin API (`POST /_sim/faults`), applied by `FaultInjector` to the Kubernetes API
paths only (never to `/_sim`). Each fault has a `kind`:

- `latency`: wait `seconds`, then answer normally;
- `status`: answer a `Status` with code `status` (default 500; 403 stands in for RBAC refusals,
  429 comes with `Retry-After`), optionally with its own `message`;
- `drop`: close the connection without answering (the request log shows it with status 0);
- `conflict`: a 409 `the object has been modified` Status (by default only on writes);
- `refuse-watch`: a watch request gets, by default, what a real server sends when it will not
  resume a watch: 200 and one `ERROR` event with a 410 `Expired` Status (the client must list
  again); with `status`, a `Status` of that code instead. Other requests pass.

A fault applies to requests whose path starts with `path` (default: every API path) and, if
given, whose method is `method`; to the next `count` of them, for `duration` seconds, or (with
neither) until the faults are cleared with `DELETE /_sim/faults`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from runway.simcluster.app import RecordedRequest
from runway.simcluster.bodies import query_bool

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

KINDS = ("latency", "status", "drop", "conflict", "refuse-watch")
_FIELDS = {"kind", "status", "seconds", "count", "duration", "path", "method", "message"}
_WRITES = ("POST", "PUT", "PATCH", "DELETE")
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_MESSAGES = {
    403: "forbidden: runway-sim (simulated) injected fault",
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: runway-sim (simulated) injected fault",
    503: "the server is currently unable to handle the request",
    504: (
        "the server was unable to return a response in the time allotted, but may still be "
        "processing the request"
    ),
}


class FaultError(ValueError):
    """A fault description that cannot be used; str() says why (the admin API's 400)."""

    code = 400


class FaultValueError(FaultError):
    """A number that is no usable value (not finite, or absurdly large): the admin API's 422."""

    code = 422


MAX_SECONDS = 3600.0
"""The longest latency or duration a fault may have: an hour is already absurd for a test."""


@dataclass
class Fault:
    """One injected fault and what is left of it."""

    id: int
    kind: str
    status: int | None = None
    seconds: float = 0.0
    count: int | None = None
    until: float | None = None
    path: str = ""
    method: str | None = None
    message: str | None = None
    hits: int = 0
    created: float = field(default_factory=time.monotonic)

    def describe(self) -> dict[str, Any]:
        left = None if self.until is None else max(0.0, self.until - time.monotonic())
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "seconds": self.seconds,
            "count": self.count,
            "remaining_seconds": left,
            "path": self.path,
            "method": self.method,
            "message": self.message,
            "hits": self.hits,
        }

    def matches(self, method: str, path: str, watch: bool) -> bool:
        if not path.startswith(self.path or "/"):
            return False
        if self.method is not None:
            return method == self.method and (self.kind != "refuse-watch" or watch)
        if self.kind == "conflict":
            return method in _WRITES
        if self.kind == "refuse-watch":
            return watch
        return True


def _number(spec: dict[str, Any], name: str, *, integer: bool = False) -> Any:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise FaultValueError(f"{name} must be a finite number")
    if value < 0 or (integer and not isinstance(value, int)):
        raise FaultError(f"{name} must be a {'whole ' if integer else ''}number >= 0")
    if name in ("seconds", "duration") and value > MAX_SECONDS:
        raise FaultValueError(f"{name} must be at most {MAX_SECONDS:g} seconds")
    return value


class Faults:
    """The faults in force on one simulated cluster."""

    def __init__(self) -> None:
        self.active: list[Fault] = []
        self._next = 1

    def add(self, spec: Any) -> Fault:
        """A fault from its JSON description; FaultError when it does not make sense."""
        if not isinstance(spec, dict):
            raise FaultError("a fault is a JSON object")
        unknown = sorted(set(spec) - _FIELDS)
        if unknown:
            raise FaultError(f"unknown fields: {', '.join(unknown)}")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultError(f"kind must be one of {', '.join(KINDS)}")
        status = _number(spec, "status", integer=True)
        if status is not None and not 400 <= status <= 599:
            raise FaultError("status must be an HTTP error code (400-599)")
        if kind == "status" and status is None:
            status = 500
        seconds = _number(spec, "seconds") or 0.0
        if kind == "latency" and not seconds:
            raise FaultError("a latency fault needs seconds > 0")
        duration = _number(spec, "duration")
        count = _number(spec, "count", integer=True)
        if count == 0:
            raise FaultError("count must be at least 1 (leave it out for no limit)")
        path = spec.get("path") or ""
        method = spec.get("method")
        message = spec.get("message")
        if not isinstance(path, str) or (path and not path.startswith("/")):
            raise FaultError("path must be a path prefix such as /api/v1/namespaces/x")
        if method is not None and not isinstance(method, str):
            raise FaultError("method must be an HTTP method")
        if message is not None and not isinstance(message, str):
            raise FaultError("message must be a string")
        fault = Fault(
            id=self._next,
            kind=kind,
            status=status,
            seconds=float(seconds),
            count=count,
            until=None if duration is None else time.monotonic() + duration,
            path=path,
            method=method.upper() if method else None,
            message=message,
        )
        self._next += 1
        self.active.append(fault)
        return fault

    def clear(self) -> int:
        cleared = len(self.active)
        self.active.clear()
        return cleared

    def describe(self) -> list[dict[str, Any]]:
        self._expire()
        return [fault.describe() for fault in self.active]

    def take(self, method: str, path: str, watch: bool) -> Fault | None:
        """The first fault that applies to a request (counting it), or None."""
        self._expire()
        for fault in self.active:
            if fault.matches(method, path, watch):
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.active.remove(fault)
                return fault
        return None

    def _expire(self) -> None:
        now = time.monotonic()
        self.active = [
            f
            for f in self.active
            if (f.until is None or f.until > now) and (f.count is None or f.count > 0)
        ]


def _status(code: int, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
    }
    if code in _REASONS:
        body["reason"] = _REASONS[code]
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _target(path: str) -> tuple[str, str, str]:
    """(group, plural, name) of an API path such as /apis/apps/v1/namespaces/n/deployments/d."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return "", "", ""
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    plural = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    return group, plural, name


def _json(body: dict[str, Any], code: int, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode() + b"\n"
    return Response(content, status_code=code, media_type="application/json", headers=headers)


def fault_response(fault: Fault, path: str, params: dict[str, str], rv: int) -> Response:
    """The answer a `status`, `conflict` or `refuse-watch` fault gives."""
    if fault.kind == "conflict":
        group, plural, name = _target(path)
        qualified = f"{plural}.{group}" if group else plural
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = plural
        message = fault.message or (
            f'Operation cannot be fulfilled on {qualified} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again"
        )
        return _json(_status(409, message, details), 409)
    if fault.kind == "refuse-watch" and fault.status is None:
        asked = params.get("resourceVersion") or "1"
        message = fault.message or f"too old resource version: {asked} ({rv})"
        event = {"type": "ERROR", "object": _status(410, message)}
        return _json(event, 200)
    code = fault.status or 500
    message = fault.message or _MESSAGES.get(code, f"runway-sim (simulated) injected fault: {code}")
    if code == 429:
        body = _status(code, message, {"retryAfterSeconds": 1})
        return _json(body, code, {"Retry-After": "1"})
    return _json(_status(code, message), code)


class FaultInjector:
    """ASGI middleware: applies the cluster's faults to Kubernetes API requests."""

    def __init__(self, app: ASGIApp, cluster: SimCluster) -> None:
        self.app = app
        self.cluster = cluster

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not self.cluster.faults.active or path.startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        watch = query_bool(params, "watch") or "/watch/" in path
        fault = self.cluster.faults.take(scope["method"], path, watch)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
            await self.app(scope, receive, send)
            return
        if fault.kind == "drop":
            # No response is ever started, so the recorder would not see it: record it here,
            # with status 0, so tests can tell which request was dropped.
            headers = dict(scope["headers"])
            self.cluster.requests.append(
                RecordedRequest(
                    time=time.time(),
                    method=scope["method"],
                    path=path,
                    query=query,
                    user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
                    status=0,
                )
            )
            await _drop(scope, receive, send)
            return
        response = fault_response(fault, path, params, self.cluster.store.rv)
        await response(scope, receive, send)


async def _drop(scope: Scope, receive: Receive, send: Send) -> None:
    """Close the connection without a response (uvicorn's transport is reached through its
    receive channel); where that is impossible, a 500 without a body says as much."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        for _ in range(5):  # let the server see the connection lost before the app returns
            await asyncio.sleep(0)
        return
    await Response(b"", status_code=500)(scope, receive, send)
