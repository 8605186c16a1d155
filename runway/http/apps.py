"""An environment's apps as `GET /api/v1/environments/{env}` shows them: each app's services
with their state and URLs, and its latest deployments.

A service's state is its step's in the app's latest deployment that started (a deployment only
created says nothing yet about what runs), else in the latest one. Its URLs come from its
`expose` host, with the answers that deployment has (a host may be `${{ inputs.domain }}`):
https when the installation has TLS, http otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from runway.config.template import InputRef, ServiceRef, parse
from runway.deploy.render_values import format_answer
from runway.executor.answers import Resolved
from runway.http.context import Context
from runway.http.plans import resolved_answers, stored_plan
from runway.http.views import deployment_summary
from runway.planner import Plan
from runway.store.records import Deployment, Environment

LATEST = 5
"""Deployments shown per app."""
LOOKED_AT = 200
"""The environment's newest deployments read to find each app's latest ones."""


async def apps_view(ctx: Context, env: Environment) -> list[dict[str, Any]]:
    """Every app of the environment, by name."""
    recent, _ = await ctx.store.deployments.list(env.id, limit=LOOKED_AT, cursor=None)
    by_app: dict[str, list[Deployment]] = defaultdict(list)
    for deployment in recent:
        by_app[deployment.app].append(deployment)
    apps = []
    for latest in await ctx.store.deployments.latest_per_app(env.id):
        mine = by_app.get(latest.app) or [latest]
        shown = next((d for d in mine if d.started_at is not None), latest)
        plan = await stored_plan(ctx, shown)
        answers = await resolved_answers(ctx, shown, plan)
        apps.append(
            {
                "name": latest.app,
                "services": _services(ctx, shown, plan, answers),
                "latest_deployment": _summary(ctx, latest),
                "deployments": [_summary(ctx, d) for d in mine[:LATEST]],
            }
        )
    return apps


def _summary(ctx: Context, deployment: Deployment) -> dict[str, Any]:
    return deployment_summary(deployment, ctx.settings.monitor_url(deployment.id))


def _services(
    ctx: Context, deployment: Deployment, plan: Plan, answers: Resolved
) -> list[dict[str, Any]]:
    steps = {step.name: step for step in deployment.steps}
    scheme = "https" if ctx.settings.render.tls is not None else "http"
    services = []
    for planned in plan.steps:
        service = plan.config.services.get(planned.name)
        urls = []
        if service is not None and service.expose is not None:
            host = _host(service.expose.host, answers)
            if host:
                urls.append(f"{scheme}://{host}/")
        state = steps.get(planned.name)
        services.append(
            {
                "name": planned.name,
                "kind": planned.kind.value,
                "status": state.status.value if state is not None else None,
                "deployment": deployment.number,
                "urls": urls,
            }
        )
    return services


def _host(text: str, answers: Resolved) -> str | None:
    """An expose host with its input references answered; None while one is not."""
    out = []
    for part in parse(text):
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, InputRef) and part.name in answers.values:
            out.append(format_answer(answers.values[part.name]))
        elif isinstance(part, ServiceRef | InputRef):
            return None
    return "".join(out)
