"""`/metrics` in Prometheus's text format, from a registry of the app's own (several apps in one
process never share one).

What is measured, and where from:

- `runway_deployments{status}`: deployments in each status, read from the database when scraped
  (every instance gives the same answer: take `max`, not `sum`, across instances).
- `runway_step_duration_seconds{kind,status}`: each step that ran, from its stored start and
  end, observed at the first scrape after it ended. Read from the database too, so each
  instance observes every step of the installation from its own start on: like the gauge
  above, look at one instance (or `max`) rather than adding them up.
- `runway_http_request_duration_seconds{method,route,status}`: the API's latency up to the start
  of the response (a stream counts until its first byte, not for as long as it stays open),
  labelled by route template (`/api/v1/deployments/{id:int}`), never by the raw path, so the
  number of series stays bounded whatever clients send.
- `runway_dashboard_sessions`: browser tabs running the dashboard on this instance.
- `runway_lease_takeovers_total`: deployments this instance took over from another.
- `runway_database_up`: whether the last scrape could read the database.

/metrics carries counts, route templates and timings: no user name, host or secret. It is open
unless the server was given a metrics token (`--metrics-token`), which a scraper then sends as
`Authorization: Bearer TOKEN` (Prometheus: `authorization: {credentials_file: ...}`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runway.http.context import context
from runway.http.errors import ApiError
from runway.store import DeploymentStatus, StoreError
from runway.store.figures import FinishedStep

log = logging.getLogger("runway.http")

SCRAPE_TIMEOUT = 5.0
"""Seconds a scrape waits for the database before it answers without its figures."""
COMMIT_LAG = timedelta(seconds=60)
"""How far back each scrape looks again for steps: a step's end is stamped before its
transaction commits, and instances' clocks differ a little."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404): one series for every such path."""
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STEP_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class StepWatch:
    """Which finished steps have been observed: each once, looking back COMMIT_LAG each time."""

    def __init__(self, since: datetime) -> None:
        self.since = since
        self._seen: dict[tuple[int, str], datetime] = {}

    def new(self, found: list[FinishedStep], now: datetime) -> list[FinishedStep]:
        """The steps of `found` not observed before; then forget what lies behind the lag."""
        fresh = [step for step in found if (step.deployment_id, step.name) not in self._seen]
        for step in fresh:
            self._seen[(step.deployment_id, step.name)] = step.finished_at
        horizon = now - COMMIT_LAG
        if horizon > self.since:
            self.since = horizon
            self._seen = {key: at for key, at in self._seen.items() if at > horizon}
        return fresh


class _Takeovers(Collector):
    def __init__(self, count: Callable[[], int]) -> None:
        self._count = count

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "runway_lease_takeovers",
            "Deployments this instance took over from another instance (or its earlier self).",
            value=self._count(),
        )


class Metrics:
    """The app's registry and what fills it. `sessions` counts the dashboard's browser tabs."""

    def __init__(self, sessions: Callable[[], int], token: str | None = None) -> None:
        self.token = token
        self.registry = CollectorRegistry()
        self.takeovers = 0
        """Read from the executor at each scrape."""
        self.requests = Histogram(
            "runway_http_request_duration_seconds",
            "Time from a request to the start of its response, by route template.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.deployments = Gauge(
            "runway_deployments",
            "Deployments in each status (from the database: the same on every instance).",
            ("status",),
            registry=self.registry,
        )
        self.steps = Histogram(
            "runway_step_duration_seconds",
            "How long steps ran, from their start to their end, by kind and final status.",
            ("kind", "status"),
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.sessions = Gauge(
            "runway_dashboard_sessions",
            "Browser tabs running the dashboard on this instance.",
            registry=self.registry,
        )
        self.sessions.set_function(lambda: float(sessions()))
        self.database_up = Gauge(
            "runway_database_up",
            "1 when the last scrape read the database, 0 when it could not.",
            registry=self.registry,
        )
        self.registry.register(_Takeovers(lambda: self.takeovers))
        self.watch = StepWatch(datetime.now(UTC))
        self._scraping = asyncio.Lock()

    def allowed(self, request: Request) -> bool:
        if self.token is None:
            return True
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            sent.strip().encode(), self.token.encode()
        )

    async def refresh(self, request: Request) -> None:
        """Read the database's figures into the registry (one scrape at a time)."""
        ctx = context(request)
        if ctx.executor is not None:
            self.takeovers = ctx.executor.takeovers
        async with self._scraping:
            try:
                async with asyncio.timeout(SCRAPE_TIMEOUT):
                    counts = await ctx.store.figures.deployments_by_status()
                    found = await ctx.store.figures.steps_finished_after(self.watch.since)
            except (StoreError, TimeoutError, OSError) as error:
                log.warning("metrics: the database did not answer: %s", error)
                self.database_up.set(0)
                self.deployments.clear()  # absent rather than stale
                return
            self.database_up.set(1)
            for status in DeploymentStatus:
                self.deployments.labels(status.value).set(counts.get(status.value, 0))
            for step in self.watch.new(found, datetime.now(UTC)):
                self.steps.labels(step.kind, step.status).observe(step.seconds)


async def metrics_endpoint(request: Request) -> Response:
    metrics = request.app.state.metrics
    assert isinstance(metrics, Metrics)
    if not metrics.allowed(request):
        raise ApiError(
            401,
            "unauthorized",
            "send the server's metrics token: Authorization: Bearer TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )
    await metrics.refresh(request)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]


def route_of(routes: list[BaseRoute], scope: Scope) -> str:
    """The template of the route `scope` goes to (a mount's own path for what it serves), or
    UNMATCHED."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return _path(route)
        if match is Match.PARTIAL and partial is None:
            partial = route  # the path matched, not the method: a 405
    return _path(partial) if partial is not None else UNMATCHED


def _path(route: BaseRoute) -> str:
    return str(getattr(route, "path", "")) or "/"


class RequestMetrics:
    """Times each HTTP request to the start of its response into `Metrics.requests`.

    The route is the one the router chose: it leaves the endpoint in the scope, and most
    endpoints serve one route only (those that serve several are matched again among them)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes: dict[object, list[BaseRoute]] = {}
        for route in routes:
            endpoint = getattr(route, "endpoint", None) or getattr(route, "app", None)
            self.routes.setdefault(endpoint, []).append(route)

    def route(self, scope: Scope) -> str:
        candidates = self.routes.get(scope.get("endpoint"))
        if not candidates:
            return UNMATCHED
        if len(candidates) == 1:
            return _path(candidates[0])
        return route_of(candidates, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "other"
        started = time.perf_counter()
        timed = False

        def observe(status: int) -> None:
            nonlocal timed
            if not timed:
                timed = True
                elapsed = time.perf_counter() - started
                labels = (method, self.route(scope), str(status))
                self.metrics.requests.labels(*labels).observe(elapsed)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            observe(500)  # unless a response started: the error handler outside answers 500
            raise
