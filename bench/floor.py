"""The floor of bench/execute.py: the same objects applied in the same order of dependencies
to the same simulator, by the least a client can do (one server-side apply per step, one
watch of the namespace's Deployments, no database, no events, no checks), in the bench's
process. What it takes is what this simulator on this machine allows any executor: runway's
wall time over it is runway's own share; its time over the ideal is the cluster's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx

NAMESPACE = "bench-floor"
APPLY = "application/apply-patch+yaml"


def manifest(live: dict[str, Any], namespace: str) -> dict[str, Any]:
    """What was applied to make `live` (its name, labels, annotations and spec), for
    `namespace`."""
    meta = live["metadata"]
    kept = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    return {
        "apiVersion": live.get("apiVersion", "apps/v1"),
        "kind": live.get("kind", "Deployment"),
        "metadata": {"name": meta["name"], "namespace": namespace, **kept},
        "spec": live["spec"],
    }


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
            body = json.dumps(manifest(workloads[name], NAMESPACE))
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
