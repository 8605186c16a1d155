"""Stored plans and the answers a deployment has, read for views."""

from __future__ import annotations

from anyio import to_thread

from runway.executor.answers import Resolved, resolve
from runway.http.context import Context
from runway.planner import Plan, plan_from_document
from runway.store.records import Answer, Deployment

_PLANS_KEPT = 64


async def stored_plan(ctx: Context, deployment: Deployment) -> Plan:
    """The plan as stored (read once per deployment and kept: a plan never changes)."""
    cache = ctx.plans
    plan = cache.get(deployment.id)
    if plan is None:
        plan = await to_thread.run_sync(plan_from_document, deployment.plan)
        remember(ctx, deployment.id, plan)
    else:
        cache.move_to_end(deployment.id)
    return plan


def remember(ctx: Context, deployment_id: int, plan: Plan) -> None:
    ctx.plans[deployment_id] = plan
    while len(ctx.plans) > _PLANS_KEPT:
        ctx.plans.popitem(last=False)


async def reused_answers(ctx: Context, deployment: Deployment) -> list[Answer]:
    """The answers of the app's last successful deployment before this one: what it reuses."""
    earlier = await ctx.store.deployments.last_succeeded(
        deployment.environment_id, deployment.app, before=deployment.number
    )
    return [] if earlier is None else await ctx.store.deployments.answers(earlier.id)


async def resolved_answers(ctx: Context, deployment: Deployment, plan: Plan) -> Resolved:
    """Every input's answer by CONTRACT.md's precedence, as the executor will see it."""
    given = await ctx.store.deployments.answers(deployment.id)
    return resolve(plan.config, given, await reused_answers(ctx, deployment))
