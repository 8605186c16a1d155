"""The secret values a step composes into Secrets of its own (env values that interpolate a
secret input, registry credentials), read from their Secrets at the last moment and kept in
memory only for the rendering of that step."""

from __future__ import annotations

from runway.deploy.connection import Cluster
from runway.deploy.input_secrets import read_secret_input
from runway.executor.answers import Resolved
from runway.planner import Plan


async def read_secret_values(
    cluster: Cluster, namespace: str, plan: Plan, step: str, answers: Resolved
) -> dict[str, str]:
    """The values of the secret inputs `step` needs, by input name."""
    values: dict[str, str] = {}
    for name in plan.step(step).needs:
        ref = answers.secrets.get(name)
        if ref is not None:
            values[name] = await read_secret_input(cluster, namespace, ref)
    return values
