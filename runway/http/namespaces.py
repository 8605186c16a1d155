"""Making sure an environment's namespace exists in the cluster (DESIGN.md, Executing).

Creating an environment prepares its namespace, so secret answers can be stored as Secrets
before the deployment starts. A cluster that is missing or does not answer must not fail the
create: starting a deployment and storing the first secret answer prepare it again (preparing
is idempotent). Each process remembers which environments it prepared, so answers after the
first do not apply the namespace's guards again.
"""

from __future__ import annotations

import logging

import anyio

from runway.deploy.apply import Retry
from runway.deploy.connection import Cluster
from runway.deploy.environment_objects import EnvironmentSpec
from runway.deploy.environments import prepare_environment
from runway.deploy.errors import ClusterUnavailable, DeployError, NamespaceNotOurs
from runway.http.context import Context
from runway.store.records import Environment

log = logging.getLogger("runway.http")

REQUEST_RETRY = Retry(tries=2, first=0.25, longest=1.0)
"""A request waits briefly for a cluster that fails: the client can ask again."""
TERMINATING_WAIT = 5.0
"""Seconds a request waits for an old namespace of the same name to finish terminating."""
PREPARE_TIMEOUT = 20.0
"""Seconds preparing may take within a request before it counts as the cluster not answering."""


def require_cluster(ctx: Context) -> Cluster:
    """The configured cluster; ClusterUnavailable (the API's 503) when there is none."""
    if ctx.cluster is None:
        raise ClusterUnavailable(
            ctx.cluster_problem
            or "no cluster is configured: start runway with --kube PATH, or --kube sim for "
            "the simulated cluster"
        )
    return ctx.cluster


async def ensure_namespace(ctx: Context, environment: Environment, *, again: bool = True) -> None:
    """Prepare the environment's namespace (with `again`, even when this process did already).
    ClusterUnavailable without a cluster; NamespaceNotOurs when a namespace of that name was
    not made by runway; the cluster's other errors as DeployError."""
    if not again and environment.id in ctx.prepared:
        return
    cluster = require_cluster(ctx)
    owner = await ctx.store.users.get(environment.owner_id)
    spec = EnvironmentSpec(
        namespace=environment.namespace,
        owner=environment.owner,
        environment=environment.name,
        quota=dict(owner.quota) if owner is not None else {},
    )
    with anyio.move_on_after(PREPARE_TIMEOUT) as scope:
        await prepare_environment(
            cluster,
            spec,
            ctx.settings.environments,
            terminating_wait=TERMINATING_WAIT,
            retry=REQUEST_RETRY,
        )
    if scope.cancelled_caught:
        raise ClusterUnavailable(
            f"the cluster at {cluster.url} did not finish preparing namespace "
            f"{environment.namespace} within {PREPARE_TIMEOUT:g}s"
        )
    ctx.prepared.add(environment.id)


async def try_namespace(ctx: Context, environment: Environment) -> None:
    """Prepare a new environment's namespace if the cluster lets us now; a cluster that is
    missing or fails is logged and left for later (start and the first secret answer try
    again). NamespaceNotOurs is raised: the environment cannot use that namespace."""
    if ctx.cluster is None:
        return
    try:
        await ensure_namespace(ctx, environment)
    except NamespaceNotOurs:
        raise
    except DeployError as error:
        log.warning(
            "namespace %s of environment %s/%s not prepared yet (tried again at start): %s",
            environment.namespace,
            environment.owner,
            environment.name,
            error,
        )
