"""What a deployment does around its steps' objects: claiming the Ingress hosts a step exposes
before it is applied, and, once every step succeeded, pruning what the deployment no longer has
and releasing the hosts it no longer exposes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runway.deploy import Target, render_step
from runway.deploy.connection import Cluster
from runway.deploy.input_secrets import read_secret_input
from runway.deploy.prune import Pruned, prune, refs
from runway.planner import Plan, StepKind
from runway.store import Deployment, Environment, Store


def ingress_hosts(manifests: Iterable[Mapping[str, Any]]) -> list[str]:
    """The hosts the Ingresses among `manifests` route."""
    return [
        str(rule["host"])
        for manifest in manifests
        if manifest.get("kind") == "Ingress"
        for rule in (manifest.get("spec") or {}).get("rules") or ()
        if rule.get("host")
    ]


async def finish(
    store: Store,
    cluster: Cluster,
    environment: Environment,
    deployment: Deployment,
    plan: Plan,
    target: Target,
) -> Pruned:
    """Prune the app's objects the deployment no longer has (every step rendered again, which
    is pure, so a resumed deployment whose steps ran on another instance knows them too), then
    free the hosts it no longer exposes. The Secrets of secret answers go once no deployment
    still needed refers to them (not ended, the latest success, or one a rollback may still
    go back to: its restore points are pruned first); volumes are reported, never deleted
    here."""
    values = {
        name: await read_secret_input(cluster, environment.namespace, ref)
        for name, ref in target.secrets.items()
    }
    full = Target(
        namespace=target.namespace,
        environment=target.environment,
        deployment=target.deployment,
        answers=target.answers,
        secrets=target.secrets,
        secret_values=values,
        settings=target.settings,
    )
    manifests = [
        manifest
        for step in plan.steps
        if step.kind in (StepKind.SERVICE, StepKind.JOB)
        for manifest in render_step(plan, step.name, full)
    ]
    keep = await store.restore_points.secret_names_needed(environment.id, deployment.app)
    pruned = await prune(
        cluster,
        environment.namespace,
        deployment.app,
        refs(manifests, target.secrets.values()),
        keep_secrets=keep,
    )
    # A newer deployment of the app, not yet run, has claimed the hosts it will expose: they
    # are its to release when it succeeds.
    if not await store.deployments.newer_pending(environment.id, deployment.app, deployment.number):
        await store.hosts.release(environment.id, deployment.app, keep=ingress_hosts(manifests))
    return pruned
