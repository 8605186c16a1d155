"""The floor of bench/execute.py: the Deployments runway renders for the same configuration
(runway.deploy.render_step, in a namespace of their own without runway's quota), applied in the
same order of dependencies to the same simulator by the least a client can do (one server-side
apply per step, one watch of the namespace's Deployments, no database, no events, no checks),
in the bench's process, before runway's run (on a simulator not yet holding runway's objects).
What it takes is what this simulator on this machine allows any executor: runway's wall time
over it is runway's own share; its time over the ideal is the cluster's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx

from runway.deploy import Target, render_step
from runway.planner import plan_source

NAMESPACE = "bench-floor"
APPLY = "application/apply-patch+yaml"


def workloads(configuration: str) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Each step's Deployment as runway renders it, in NAMESPACE, and each step's needs."""
    plan = plan_source(configuration.encode())
    target = Target(NAMESPACE, "floor", 1)
    found = {
        step.name: next(
            m for m in render_step(plan, step.name, target) if m["kind"] == "Deployment"
        )
        for step in plan.steps
    }
    return found, {step.name: list(step.depends_on) for step in plan.steps}


def ready(deployment: dict[str, Any]) -> bool:
    meta, spec, status = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    wanted = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= meta.get("generation", 1)
        and status.get("updatedReplicas", 0) == wanted
        and status.get("availableReplicas", 0) == wanted
    )


async def floor(
    url: str, workloads: dict[str, dict[str, Any]], needs: dict[str, list[str]]
) -> float:
    """Seconds to apply every workload (by step name) once those it `needs` are ready, and see
    them all ready; the namespace is made first and not timed."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        made = await client.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        )
        made.raise_for_status()
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
        listed = (await client.get(path)).json()
        done = {step: asyncio.Event() for step in workloads}
        names = {w["metadata"]["name"]: step for step, w in workloads.items()}
        watching = asyncio.Event()

        async def watch() -> None:
            query = {"watch": "true", "resourceVersion": listed["metadata"]["resourceVersion"]}
            async with client.stream("GET", path, params=query, timeout=None) as stream:
                watching.set()
                async for line in stream.aiter_lines():
                    if line.strip():
                        obj = json.loads(line)["object"]
                        step = names.get(obj["metadata"]["name"])
                        if step is not None and ready(obj):
                            done[step].set()

        async def step(name: str) -> None:
            for need in needs.get(name, ()):
                await done[need].wait()
            body = json.dumps(workloads[name])
            answer = await client.patch(
                f"{path}/{workloads[name]['metadata']['name']}",
                content=body,
                params={"fieldManager": "floor", "force": "true"},
                headers={"Content-Type": APPLY},
            )
            answer.raise_for_status()
            await done[name].wait()

        watcher = asyncio.create_task(watch())
        try:
            await watching.wait()
            began = time.perf_counter()
            await asyncio.gather(*(step(name) for name in workloads))
            return time.perf_counter() - began
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await watcher
