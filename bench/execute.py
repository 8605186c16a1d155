"""A deployment of 1,000 steps run by the real executor: wall time against the critical path,
runway's CPU per step, and how late its events reach a Server-Sent Events client.

    python bench/execute.py [--layers 20] [--width 50] [--fanin 3] [--delay 1] [--limit 100]
    python bench/execute.py --profile        # also where runway's CPU goes (cProfile of CPU
                                             # time, saved beside the run's database)
    python bench/execute.py --default-gc     # with CPython's collector settings, for comparison

What runs: examples/wide.py's configuration (LAYERS layers of WIDTH services, each depending on
FANIN of the layer before: 1,000 steps, a critical path of 20) is sent over HTTP to runway's API
(runway.http.create_app, served by uvicorn in this process, the store on SQLite in a temporary
dir; the garbage collector settled as `runway serve` settles it, runway.collector) and
started there; runway.executor.Executor runs it with Limits(per_deployment=LIMIT,
per_instance=LIMIT), LIMIT defaulting to twice the layer width so the limit never holds a step
back. The cluster is `runway sim-cluster --admin` in its own process, each container ready DELAY
seconds after its pod is made (`PUT /_sim/behaviour {ready_delay}`); the owner's quota is raised
for 1,000 one-replica Deployments. A reader in its own process follows
`GET /api/v1/deployments/{id}/events` with httpx and notes when each event arrives.

Baselines measured in the same run, first: a deployment of one service (the same server, store
and cluster), whose wall time is one step's floor (DELAY plus a step's fixed cost) and whose
events, on an idle server, give the latency floor; and the client CPU of one bare
`GET /version` to the simulator. Before the run, the floor (bench/floor.py): the same
Deployments applied in the same order of dependencies to the same simulator by a minimal
client (one apply per step, one watch), in another namespace; no executor can do better on
this machine with this simulator, so runway's wall over the floor is runway's own share of the
wall time, and the floor over the ideal is the simulated cluster's (it shares the machine's
two cores with runway).

Figures and targets (issue 8):
- wall time against the critical path x DELAY (the ideal): issue 8 asks for at most 1.2x. On
  this machine the simulator, sharing its two cores, keeps any client above that (the floor
  was 1.29x the ideal with the simulator at 12 ms of CPU a step, load 0.4), so the wall time is
  judged against the floor measured in the same run: target <= 1.2x the floor. The ratio to
  the ideal is printed beside it;
- runway's CPU per step (this process: executor, store, API and SSE server; not the simulator
  nor the reader): target <= 10 ms;
- event latency, store to SSE client (arrival time minus the event's `at`): target p99 <= 100 ms.
Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import json
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
import yaml
from floor import floor, workloads  # bench/floor.py, beside this script (on sys.path)

from runway import collector
from runway.auth import PasswordHasher
from runway.cli.serving import listen
from runway.deploy.connection import Cluster, connect
from runway.executor.executor import Executor
from runway.executor.run import Limits
from runway.http import Settings, create_app
from runway.simcluster.process import SimProcess, run_simulator
from runway.store import Store, sqlite_url
from runway.store.records import Event

ROOT = Path(__file__).parents[1]
PASSWORD = "bench password, long enough"
QUOTA = {
    "requests.cpu": "1000",
    "requests.memory": "1000Gi",
    "limits.cpu": "1000",
    "limits.memory": "1000Gi",
    "pods": "10000",
}
"""Room for 1,000 one-replica Deployments (the default quota allows 50 pods)."""
TARGET_WALL = 1.2
TARGET_CPU_MS = 10.0
TARGET_P99 = 0.100
ONE = "runway: 1\napp: one\nservices:\n  only:\n    image: example/only:1\n"


def wide(layers: int, width: int, fanin: int) -> str:
    """examples/wide.py's configuration, each service with a readiness probe (see probed)."""
    command = [sys.executable, str(ROOT / "examples" / "wide.py"), str(layers), str(width)]
    generated = subprocess.run([*command, str(fanin)], check=True, capture_output=True, text=True)
    return probed(generated.stdout)


def probed(configuration: str) -> str:
    """`configuration` with `ready: {tcp: 8080}` on every service. Without a probe runway has a
    new pod stay up MIN_READY_SECONDS (10 s) before it counts as available, so each step would
    take the ready delay plus 10 s; with one, readiness is the simulator's delay alone, which
    is what the bench sets."""
    document = yaml.safe_load(configuration)
    for service in document["services"].values():
        service["ready"] = {"tcp": 8080}
    return yaml.safe_dump(document, sort_keys=False)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def simulator(directory: Path, delay: float) -> Iterator[SimProcess]:
    """`runway sim-cluster --admin` in its own process, containers ready after `delay`."""
    with run_simulator(directory) as sim:
        httpx.put(f"{sim.url}/_sim/behaviour", json={"ready_delay": delay}).raise_for_status()
        yield sim


@dataclass
class Server:
    """runway's API in this process, with the bench's executor, and an admin's client."""

    url: str
    store: Store
    executor: Executor
    client: httpx.AsyncClient
    token: str


@contextlib.asynccontextmanager
async def server(
    directory: Path, cluster: Cluster, limit: int, settle: bool
) -> AsyncIterator[Server]:
    listening = listen("127.0.0.1", 0)
    url = f"http://127.0.0.1:{listening.getsockname()[1]}"
    limits = Limits(per_deployment=limit, per_instance=limit)
    settings = Settings(database_url=sqlite_url(directory), public_url=url, limits=limits)
    store = await Store.open(settings.database_url)
    hashed = PasswordHasher().hash(PASSWORD)
    await store.users.create_first_admin_directly("admin", hashed, datetime.now(UTC))
    app = create_app(settings, store, cluster=cluster)
    executor = app.state.runway.executor
    if settle:
        collector.settle()  # as `runway serve` does before it serves
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(uvicorn_server.serve(sockets=[listening]))
    try:
        while not uvicorn_server.started:
            if serving.done():
                raise SystemExit("runway's server did not start")
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            login = {"username": "admin", "password": PASSWORD}
            token = (await client.post("/api/v1/sessions", json=login)).json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            quota = await client.patch("/api/v1/users/admin", json={"quota": QUOTA})
            quota.raise_for_status()
            created = await client.post("/api/v1/environments", json={"name": "bench"})
            created.raise_for_status()
            yield Server(url, store, executor, client, token)
    finally:
        uvicorn_server.should_exit = True
        await serving
        await store.close()
        listening.close()


class Collections:
    """The time this process spends in the garbage collector, by generation, while on."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._began = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._began = time.process_time()
        else:
            self.seconds[info["generation"]] += time.process_time() - self._began
            self.counts[info["generation"]] += 1

    def line(self) -> str:
        each = ", ".join(
            f"gen {g}: {n} in {s * 1000:.0f} ms"
            for g, (n, s) in enumerate(zip(self.counts, self.seconds, strict=True))
        )
        return f"gc         {sum(self.seconds):.2f} s of runway's CPU ({each})"


@dataclass
class Run:
    steps: int
    critical_path: int
    wall: float
    cpu: float
    sim_cpu: float
    latencies: list[float]
    status: str
    phases: dict[str, list[float]]
    requests: dict[str, int]
    """The cluster's requests during the run, by method."""


async def run(
    bench: Server,
    sim: SimProcess,
    configuration: str,
    profiler: cProfile.Profile | None,
    collections: Collections | None = None,
) -> Run:
    """Create, start and wait for one deployment of `configuration`; its figures."""
    made = await bench.client.post(
        "/api/v1/environments/bench/deployments",
        content=configuration.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    made.raise_for_status()
    deployment = made.json()
    number = deployment["id"]
    known = await bench.store.deployments.events(number, limit=100_000)
    reader = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--read-events",
            f"{bench.url}/api/v1/deployments/{number}/events",
            str(known[-1].id if known else 0),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None
    assert reader.stdout is not None
    reader.stdin.write(bench.token + "\n")
    reader.stdin.close()
    connected = await asyncio.to_thread(reader.stdout.readline)
    if connected.strip() != "connected":
        raise SystemExit(f"the event reader did not connect: {connected!r}")

    since = httpx.get(f"{sim.url}/_sim/requests", params={"since": "0"}).json()["next"]
    sim_cpu, cpu, wall = sim.cpu(), time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    if collections is not None:
        collections.on = True
    started = await bench.client.post(f"/api/v1/deployments/{number}/start")
    started.raise_for_status()
    status = await bench.executor.wait(number)
    if status is None:  # it ended before the wait began
        status = (await bench.store.deployments.get(number)).status  # type: ignore[union-attr]
    if profiler is not None:
        profiler.disable()
    if collections is not None:
        collections.on = False
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    sim_cpu = sim.cpu() - sim_cpu
    requests = cluster_requests(sim, since)

    phases = step_phases(await bench.store.deployments.events(number, limit=100_000))
    output = await asyncio.to_thread(reader.stdout.read)
    reader.wait(timeout=30)
    latencies = [float(x) for x in json.loads(output)]
    return Run(
        len(deployment["steps"]),
        len(deployment["critical_path"]),
        wall,
        cpu,
        sim_cpu,
        latencies,
        str(status),
        phases,
        requests,
    )


def cluster_requests(sim: SimProcess, since: int) -> dict[str, int]:
    """The Kubernetes API requests the simulator received since request number `since`, by
    method (a GET with `watch` counted as WATCH)."""
    found = httpx.get(f"{sim.url}/_sim/requests", params={"since": str(since)}).json()
    counts: dict[str, int] = {}
    for request in found["items"]:
        method = request["method"]
        if method == "GET" and "watch=" in str(request.get("query") or ""):
            method = "WATCH"
        counts[method] = counts.get(method, 0) + 1
    return counts


def step_phases(events: list[Event]) -> dict[str, list[float]]:
    """Seconds each step spent applying (`applying` to `waiting_ready`) and waiting for
    readiness (to `succeeded`), from the stored events: where the wall time goes."""
    seen: dict[str, dict[str, float]] = {}
    for event in events:
        if event.type == "step":
            step, status = str(event.data.get("step")), str(event.data.get("status"))
            seen.setdefault(step, {})[status] = event.at.timestamp()
    phases: dict[str, list[float]] = {"applying": [], "waiting_ready": []}
    for times in seen.values():
        if {"applying", "waiting_ready", "succeeded"} <= times.keys():
            phases["applying"].append(times["waiting_ready"] - times["applying"])
            phases["waiting_ready"].append(times["succeeded"] - times["waiting_ready"])
    return phases


def latency_line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<10} no events"
    ms = [v * 1000 for v in values]
    return (
        f"{name:<10} {len(ms):5d} events  p50 {quantile(ms, 0.5):6.1f} ms  "
        f"p90 {quantile(ms, 0.9):6.1f} ms  p99 {quantile(ms, 0.99):6.1f} ms  "
        f"max {max(ms):6.1f} ms"
    )


async def main(args: argparse.Namespace) -> int:
    directory = Path(tempfile.mkdtemp(prefix="runway-bench-execute-"))
    configuration = wide(args.layers, args.width, args.fanin)
    limit = args.limit or 2 * args.width
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    collections = Collections()
    gc.callbacks.append(collections)
    with simulator(directory, args.delay) as sim:
        async with await connect(str(sim.kubeconfig)) as cluster:
            for _ in range(50):  # warm the connection pool
                await cluster.request("GET", "/version")
            began = time.process_time()
            for _ in range(500):
                await cluster.request("GET", "/version")
            bare = (time.process_time() - began) / 500
            async with server(directory, cluster, limit, not args.default_gc) as bench:
                one = await run(bench, sim, probed(ONE), None)
                least = await floor(sim.url, *workloads(configuration))
                big = await run(bench, sim, configuration, profiler, collections)

    ideal = big.critical_path * args.delay
    per_step = big.cpu / big.steps * 1000
    p99 = quantile(big.latencies, 0.99) if big.latencies else float("inf")
    print(
        f"{big.steps} steps ({args.layers} layers x {args.width}, fan-in {args.fanin}), critical "
        f"path {big.critical_path}, ready delay {args.delay:g} s, limit {limit} per deployment "
        f"and per instance; SQLite; simulator in its own process"
    )
    print(
        f"baseline   one step alone: {one.wall:.2f} s wall ({one.status}); one bare GET /version: "
        f"{bare * 1000:.3f} ms client CPU"
    )
    print(
        f"wall       {big.wall:.2f} s ({big.status}) against the ideal {ideal:.1f} s "
        f"(critical path x delay): {big.wall / ideal:.2f}x; "
        f"{big.wall / (big.critical_path * one.wall):.2f}x critical path x one step alone"
    )
    print(
        f"runway CPU {big.cpu:.2f} s = {per_step:.2f} ms/step ({big.cpu / big.steps / bare:.0f} "
        f"bare requests; target <= {TARGET_CPU_MS:g} ms); simulator CPU "
        f"{big.sim_cpu / big.steps * 1000:.2f} ms/step, busy {big.sim_cpu / big.wall:.0%} of the "
        "wall time (near 100%: the simulator, one process, bounds the wall time)"
    )
    print(
        f"floor      {least:.2f} s: the same Deployments applied by a minimal client to the same "
        f"simulator (bench/floor.py), {least / ideal:.2f}x the ideal; runway's wall is "
        f"{big.wall / least:.2f}x the floor (target <= {TARGET_WALL}x the floor)"
    )
    print(collections.line())
    each = ", ".join(f"{method} {n}" for method, n in sorted(big.requests.items()))
    total = sum(big.requests.values())
    print(f"requests   {total} to the cluster, {total / big.steps:.2f} per step ({each})")
    print(latency_line("events", big.latencies) + f"  (target p99 <= {TARGET_P99 * 1000:g} ms)")
    print(latency_line("idle", one.latencies) + "  (baseline: the one-step deployment)")
    for phase, seconds in big.phases.items():
        if seconds:
            print(
                f"{phase:<14} per step: p50 {quantile(seconds, 0.5):.2f} s  p90 "
                f"{quantile(seconds, 0.9):.2f} s  max {max(seconds):.2f} s (one step alone: "
                f"{quantile(one.phases[phase], 0.5) if one.phases[phase] else 0:.2f} s)"
            )
    missed = [
        name
        for name, ok in (
            ("wall", big.status == "succeeded" and big.wall <= TARGET_WALL * least),
            ("cpu", per_step <= TARGET_CPU_MS),
            ("event p99", p99 <= TARGET_P99),
        )
        if not ok
    ]
    print("targets: " + ("all met" if not missed else "MISSED " + ", ".join(missed)))
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(30)
        print(text.getvalue())
        profiler.dump_stats(directory / "runway.prof")
        print(f"the whole profile: {directory / 'runway.prof'} (python -m pstats)")
    return 1 if missed else 0


def read_events(url: str, after: str) -> int:
    """The reader process: follow the stream (token on stdin) from event `after`, print
    `connected` once the response began, then at the end the JSON list of each event's
    latency (arrival minus its `at`, seconds)."""
    token = sys.stdin.readline().strip()
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": after}
    latencies: list[float] = []
    with httpx.stream("GET", url, headers=headers, timeout=None) as response:
        response.raise_for_status()
        print("connected", flush=True)
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrived = time.time()
                at = datetime.fromisoformat(json.loads(line[6:])["at"].replace("Z", "+00:00"))
                latencies.append(arrived - at.timestamp())
    print(json.dumps(latencies), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--read-events":
        raise SystemExit(read_events(sys.argv[2], sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--fanin", type=int, default=3)
    parser.add_argument("--delay", type=float, default=1.0, help="ready delay per step, seconds")
    parser.add_argument(
        "--limit", type=int, default=0, help="steps at once (default: twice the width)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the 1,000-step run")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's garbage collector settings (runway serve settles them)",
    )
    raise SystemExit(asyncio.run(main(parser.parse_args())))
