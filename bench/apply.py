"""Running steps at scale: runway's own CPU per step against a simulated cluster in its own process.

    python bench/apply.py [--services 200] [--concurrency 10] [--profile]

A configuration of SERVICES services (layers of 20, each depending on up to 3 of the layer
before; each with a port, an HTTP readiness probe, env and a composed secret env value, so a
step renders and applies a Secret, a Deployment and a Service) is deployed step by step with
`run_step` to `runway sim-cluster --admin` running in another process with ready_delay 0:

1. deploy: every step, dependencies first, at most CONCURRENCY at a time (as the executor will);
2. again: every step once more, one after the other: nothing changes, every workload is ready
   at the first look.

For each pass: runway's CPU per step (time.process_time of this process: rendering, the
client, JSON, the event loop), the simulator's CPU per step (utime+stime of its process from
/proc), wall time and API requests per step. The baseline, measured in the same run, is the
client CPU of one bare request (`GET /version` through the same Cluster): a step's CPU is also
given in such requests. Target (issue 7): runway CPU at most 10 ms per step; exit 1 when
missed. With --profile, where runway's time goes (cProfile, the deploy pass).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from runway.deploy import SecretRef, Target
from runway.deploy.connection import Cluster, connect
from runway.deploy.environment_objects import EnvironmentSpec
from runway.deploy.environments import prepare_environment
from runway.deploy.input_secrets import store_secret_input
from runway.deploy.steps import run_step
from runway.planner import Plan, plan_source
from runway.simcluster.process import SimProcess, run_simulator

TARGET_MS = 10.0
WIDTH = 20
TIMEOUT = 300.0
QUOTA = {
    "requests.cpu": "1000",
    "requests.memory": "1000Gi",
    "limits.cpu": "1000",
    "limits.memory": "1000Gi",
    "pods": "10000",
}


def configuration(services: int) -> str:
    """SERVICES services in layers of WIDTH, each on up to 3 of the layer before."""
    rng = random.Random(7)
    lines = [
        "runway: 1",
        "app: bench",
        "inputs:",
        "  token: {prompt: API token, type: secret}",
        "  region: {prompt: Region, default: eu-west}",
        "services:",
    ]
    for i in range(services):
        layer, column = divmod(i, WIDTH)
        lines += [
            f"  s{layer}-{column}:",
            f"    image: example/s{column}:1",
            "    ports: [8080]",
            "    ready: {http: /healthz, port: 8080}",
            "    env:",
            "      REGION: ${{ inputs.region }}",
            "      TOKEN: ${{ inputs.token }}",
            "      API: https://user:${{ inputs.token }}@api.example.org",
        ]
        if layer:
            width = min(WIDTH, services - (layer - 1) * WIDTH)
            picked = sorted(rng.sample(range(width), min(3, width)))
            lines.append("    depends_on: [" + ", ".join(f"s{layer - 1}-{d}" for d in picked) + "]")
    return "\n".join(lines) + "\n"


@contextmanager
def simulator(directory: Path) -> Iterator[SimProcess]:
    """`runway sim-cluster --admin` in its own process, ready_delay 0."""
    with run_simulator(directory) as sim:
        httpx.put(f"{sim.url}/_sim/behaviour", json={"ready_delay": 0}).raise_for_status()
        yield sim


def requests_of(sim: SimProcess) -> int:
    """How many API requests the simulator has received so far."""
    return int(httpx.get(f"{sim.url}/_sim/requests", params={"since": 1 << 62}).json()["next"])


@dataclass
class Figures:
    steps: int
    cpu: float
    sim_cpu: float
    wall: float
    requests: int

    def row(self, name: str, baseline: float) -> str:
        per = 1000 / self.steps
        return (
            f"{name:<8} runway CPU {self.cpu * per:6.2f} ms/step"
            f" ({self.cpu / self.steps / baseline:5.1f} bare requests)"
            f" | simulator CPU {self.sim_cpu * per:6.2f} ms/step"
            f" | wall {self.wall * per:7.1f} ms/step ({self.wall:5.1f} s)"
            f" | {self.requests / self.steps:4.1f} requests/step"
        )


async def measured(sim: SimProcess, steps: int, run: Callable[[], Awaitable[None]]) -> Figures:
    # Asking the admin API costs this process CPU too: done outside the measured window.
    requests = requests_of(sim)
    sim_cpu = sim.cpu()
    cpu, wall = time.process_time(), time.perf_counter()
    await run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    sim_cpu = sim.cpu() - sim_cpu
    return Figures(steps, cpu, sim_cpu, wall, requests_of(sim) - requests)


async def deploy_all(cluster: Cluster, plan: Plan, target: Target, concurrency: int) -> None:
    """Every step, each once its dependencies are done, at most `concurrency` at a time."""
    scheduler = plan.scheduler()
    waiting: list[str] = []
    running: set[asyncio.Task[str]] = set()

    async def one(name: str) -> str:
        await run_step(cluster, plan, name, target, timeout=TIMEOUT)
        return name

    while running or waiting or scheduler.is_active():
        waiting += scheduler.get_ready()
        while waiting and len(running) < concurrency:
            running.add(asyncio.create_task(one(waiting.pop(0))))
        finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            running.discard(task)
            scheduler.done(task.result())


async def main(services: int, concurrency: int, profile: bool) -> int:
    plan = plan_source(configuration(services))
    directory = Path(tempfile.mkdtemp(prefix="runway-bench-apply-"))
    with simulator(directory) as sim:
        async with await connect(str(sim.kubeconfig)) as cluster:
            namespace = "rw-bench-apply"
            await prepare_environment(cluster, EnvironmentSpec(namespace, "bench", "bench", QUOTA))
            ref: SecretRef = await store_secret_input(
                cluster, namespace, "bench", "bench", "token", 1, "t0ken-bench"
            )
            target = Target(
                namespace,
                "bench",
                1,
                {"region": "eu-west"},
                {"token": ref},
                {"token": "t0ken-bench"},
            )

            for _ in range(50):  # warm up the connection pool and caches
                await cluster.request("GET", "/version")
            began = time.process_time()
            for _ in range(500):
                await cluster.request("GET", "/version")
            baseline = (time.process_time() - began) / 500

            profiler = cProfile.Profile() if profile else None
            if profiler is not None:
                profiler.enable()
            deploy = await measured(
                sim, len(plan.steps), lambda: deploy_all(cluster, plan, target, concurrency)
            )
            if profiler is not None:
                profiler.disable()

            async def again() -> None:
                for step in plan.steps:
                    await run_step(cluster, plan, step.name, target, timeout=TIMEOUT)

            rerun = await measured(sim, len(plan.steps), again)

    print(f"{services} services, concurrency {concurrency}, simulator in its own process")
    print(f"baseline: one bare GET /version costs runway's client {baseline * 1000:.3f} ms CPU")
    print(deploy.row("deploy", baseline))
    print(rerun.row("again", baseline))
    worst = max(deploy.cpu / deploy.steps, rerun.cpu / rerun.steps) * 1000
    verdict = "met" if worst <= TARGET_MS else "MISSED"
    print(f"target: runway CPU <= {TARGET_MS:g} ms per step: {verdict} (worst {worst:.2f} ms)")
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs()
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)
        print(text.getvalue())
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile the deploy pass")
    arguments = parser.parse_args()
    raise SystemExit(
        asyncio.run(
            main(
                arguments.services,
                arguments.concurrency,
                arguments.profile,
            )
        )
    )
