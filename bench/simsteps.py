"""The simulated cluster's CPU per Deployment step, as runway loads it, without runway.

    python bench/simsteps.py [--steps 1000] [--concurrency 100] [--delay 0.2]

`runway sim-cluster --admin` runs in its own process (as bench/execute.py runs it), each
container ready DELAY seconds after its pod is made, in one namespace under a ResourceQuota
(which makes every pod's admission count the namespace's usage). STEPS one-replica Deployments,
CONCURRENCY at a time, are each server-side applied and waited for as runway waits
(runway.deploy.readiness): a list and a watch of the Deployment (`metadata.name=`), of its
ReplicaSets and of its pods (its label), until the Deployment says its replica is available.
The figure is the simulator's CPU (from /proc) per step, the one bench/execute.py prints, with
no runway around it: quick to compare before and after a change to runway/simcluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from runway.simcluster.process import run_simulator

NAMESPACE = "bench"
APPLY = "application/apply-patch+yaml"
QUOTA = {"requests.cpu": "1000", "requests.memory": "1000Gi", "pods": "100000"}


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    container = {
        "name": "web",
        "image": "example/web:1",
        "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


async def follow(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> Any:
    """List then watch a collection, yielding each object listed, then each one watched
    (runway.deploy.watch.watch_objects, without its resumption)."""
    listed = await http.get(path, params=params)
    listed.raise_for_status()
    for obj in listed.json()["items"]:
        yield obj
    version = listed.json()["metadata"]["resourceVersion"]
    watch = {**params, "watch": "true", "resourceVersion": version, "timeoutSeconds": "60"}
    async with http.stream("GET", path, params={**watch, "allowWatchBookmarks": "true"}) as body:
        async for line in body.aiter_lines():
            if line:
                yield json.loads(line)["object"]


async def available(http: httpx.AsyncClient, path: str, name: str) -> bool:
    """Whether the Deployment's replica became available before its watch ended."""
    watched = follow(http, path, {"fieldSelector": f"metadata.name={name}"})
    with contextlib.suppress(httpx.TransportError):
        async with contextlib.aclosing(watched) as objects:
            async for obj in objects:
                if (obj.get("status") or {}).get("availableReplicas") == 1:
                    return True
    return False


async def drain(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> None:
    while True:  # until cancelled
        with contextlib.suppress(httpx.TransportError):
            async for _ in follow(http, path, params):
                pass


async def step(http: httpx.AsyncClient, name: str) -> None:
    """Apply one Deployment and wait, as runway does, until its replica is available."""
    apps = f"/apis/apps/v1/namespaces/{NAMESPACE}"
    for attempt in range(5):  # an overloaded server may drop a connection: apply again
        try:
            applied = await http.patch(
                f"{apps}/deployments/{name}",
                content=json.dumps(deployment(name)),
                params={"fieldManager": "bench"},
                headers={"Content-Type": APPLY},
            )
            break
        except httpx.TransportError:
            if attempt == 4:
                raise
    applied.raise_for_status()
    selector = {"labelSelector": f"app={name}"}
    others = [
        asyncio.create_task(drain(http, f"{apps}/replicasets", selector)),
        asyncio.create_task(drain(http, f"/api/v1/namespaces/{NAMESPACE}/pods", selector)),
    ]
    try:
        while not await available(http, f"{apps}/deployments", name):
            pass  # the watch ended (its timeout, a dropped connection): list and watch again
    finally:
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


async def run(url: str, cpu: Any, steps: int, concurrency: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=4 * concurrency, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        (
            await http.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}})
        ).raise_for_status()
        quota = {"metadata": {"name": "q"}, "spec": {"hard": QUOTA}}
        path = f"/api/v1/namespaces/{NAMESPACE}/resourcequotas"
        (await http.post(path, json=quota)).raise_for_status()
        await asyncio.sleep(0.5)  # the quota's status is filled: from here on it counts
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                await step(http, f"d{index:05}")

        began_cpu, began = cpu(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(steps)))
        return cpu() - began_cpu, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.2, help="ready delay, seconds")
    args = parser.parse_args()
    with run_simulator(Path(tempfile.mkdtemp(prefix="runway-simsteps-"))) as sim:
        behaviour = {"ready_delay": args.delay}
        httpx.put(f"{sim.url}/_sim/behaviour", json=behaviour).raise_for_status()
        cpu, wall = asyncio.run(run(sim.url, sim.cpu, args.steps, args.concurrency))
    print(
        f"{args.steps} one-replica Deployments, {args.concurrency} at a time, each waited for "
        f"with 3 watches; ready delay {args.delay:g} s; simulator in its own process"
    )
    print(
        f"simulator CPU {cpu * 1000 / args.steps:.2f} ms/step ({cpu:.2f} s); wall {wall:.2f} s, "
        f"simulator busy {cpu / wall:.0%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
