"""Creating deployments over HTTP, against a real `runway serve` on Postgres, beside `/healthz`.

    python bench/api.py                  # 16 clients, 2,000 creates; exit 1 if a target is missed
    python bench/api.py --clients 8 --requests 1000
    python bench/api.py --py-spy BIN     # also sample the server with py-spy while it creates
    python bench/api.py --profile        # the server under cProfile (slower, deterministic)

What it does: makes a fresh Postgres database on 127.0.0.1:5432, starts `runway serve` on it
(127.0.0.1, a free port) in a subprocess, sets up the first admin with the setup token the server
logs, makes an environment, then sends the same number of requests from `--clients` concurrent
httpx clients (one connection each), first to `/healthz` (the baseline: the same server, HTTP and
event loop, no database, no planning), then `POST /api/v1/environments/bench/deployments` with
examples/blog.yaml. It prints throughput and p50/p90/p99 latency of both, and their ratios; it
stops the server and drops the database at the end. Every request goes to 127.0.0.1.

Targets (issue 4): p99 of create <= 100 ms and >= 200 creates/s, on these 2-core machines, with
the load generator on the same machine (it takes a share of the two cores, as it would for any
client-side measurement here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).parents[1]
BLOG = (ROOT / "examples" / "blog.yaml").read_bytes()
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
HOST = "127.0.0.1"
PASSWORD = "bench password, long enough"
TOKEN_LINE = re.compile(r"One-time setup token \(valid until [^)]*\): (rw_[A-Za-z0-9_-]+)")

TARGET_P99 = 0.100
TARGET_RATE = 200.0


@dataclass
class Figures:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    failures: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name:<8} {self.count:>6} req {self.seconds:>6.2f} s {self.rate:>8.1f} req/s  "
            f"p50 {self.quantile(0.5) * 1000:>7.2f} ms  p90 {self.quantile(0.9) * 1000:>7.2f} ms  "
            f"p99 {self.quantile(0.99) * 1000:>7.2f} ms  max {max(self.latencies) * 1000:>7.2f} ms"
            f"  failed {self.failures}"
        )


async def load(
    name: str,
    clients: list[httpx.AsyncClient],
    total: int,
    send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    expected: int,
    deadline: float,
) -> Figures:
    """`total` requests shared by the clients, each sending its next as soon as the last one
    answered; stops early at `deadline` (monotonic seconds)."""
    remaining = total
    latencies: list[float] = []
    failures = 0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal remaining, failures
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            start = time.perf_counter()
            response = await send(client)
            latencies.append(time.perf_counter() - start)
            if response.status_code != expected:
                failures += 1
                if failures <= 3:
                    print(f"  {name}: {response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(client) for client in clients))
    return Figures(name, len(latencies), time.perf_counter() - started, latencies, failures)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Cpu:
    """Where the CPU went during one phase: the server, the Postgres backends serving it, and
    this load generator (all on the same machine)."""

    server: float
    postgres: float
    clients: float

    def line(self, figures: Figures) -> str:
        per = 1000 / figures.count
        wall = figures.seconds
        return (
            f"{figures.name:<8} CPU per request: server {self.server * per:.2f} ms, "
            f"postgres {self.postgres * per:.2f} ms, load generator {self.clients * per:.2f} ms "
            f"(of {os.cpu_count()} cores over {wall:.1f} s: server {self.server / wall:.0%}, "
            f"postgres {self.postgres / wall:.0%}, load generator {self.clients / wall:.0%})"
        )


class CpuMeter:
    def __init__(self, server_pid: int, database_url: str, database: str) -> None:
        self.server_pid = server_pid
        self.database_url = database_url
        self.database = database

    async def _backends(self) -> dict[int, float]:
        connection = await asyncpg.connect(self.database_url)
        try:
            rows = await connection.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.database,
            )
        finally:
            await connection.close()
        return {row["pid"]: cpu_seconds(row["pid"]) for row in rows}

    async def snapshot(self) -> tuple[float, dict[int, float], float]:
        own = os.times()
        return (
            cpu_seconds(self.server_pid),
            await self._backends(),
            own.user + own.system,
        )

    async def since(self, before: tuple[float, dict[int, float], float]) -> Cpu:
        after = await self.snapshot()
        postgres = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in after[1].items())
        return Cpu(after[0] - before[0], postgres, after[2] - before[2])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"runway serve exited:\n{log.read_text()}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit(f"runway serve not ready in 30 s:\n{log.read_text()}")


def start_server(database_url: str, port: int, log: Path, profile: Path | None):
    runway = str(Path(sys.executable).with_name("runway"))
    command = [runway, "serve", "--host", HOST, "--port", str(port), "--database-url", database_url]
    if profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop_server(process: subprocess.Popen[bytes], profiled: bool) -> None:
    if process.poll() is None:
        # SIGINT: the profiler writes its file as the interpreter unwinds (after SIGTERM, the
        # process dies of the signal re-raised by uvicorn and writes nothing).
        process.send_signal(signal.SIGINT if profiled else signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def run(args: argparse.Namespace) -> int:
    name = f"runway_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    workdir = Path(tempfile.mkdtemp(prefix="runway-bench-"))
    log = workdir / "serve.log"
    profile = workdir / "serve.prof" if args.profile else None
    port = free_port()
    url = f"http://{HOST}:{port}"
    process = start_server(f"{POSTGRES}/{name}", port, log, profile)
    try:
        await wait_ready(url, process, log)
        # Under cProfile too, the server is this process (`python -m cProfile runway serve`).
        meter = CpuMeter(process.pid, f"{POSTGRES}/{name}", name)
        return await measure(args, url, log, meter)
    finally:
        stop_server(process, profile is not None)
        connection = await asyncpg.connect(f"{POSTGRES}/postgres")
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
        if profile is not None and profile.exists():
            print(f"\nserver profile ({profile}), by own time:")
            stats = pstats.Stats(str(profile))
            stats.sort_stats("tottime").print_stats(25)
            print("by cumulative time:")
            stats.sort_stats("cumulative").print_stats(40)
        print(f"server log: {log}")


async def measure(args: argparse.Namespace, url: str, log: Path, meter: CpuMeter) -> int:
    found = TOKEN_LINE.findall(log.read_text())
    if len(found) != 1:
        raise SystemExit(f"expected one setup token in the log:\n{log.read_text()}")
    async with httpx.AsyncClient(base_url=url) as anyone:
        setup = await anyone.post(
            "/api/v1/setup",
            json={"setup_token": found[0], "username": "bench", "password": PASSWORD},
        )
        setup.raise_for_status()
        token = setup.json()["token"]
        made = await anyone.post(
            "/api/v1/environments",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {token}"},
        )
        made.raise_for_status()

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            limits=limits,
            timeout=30,
        )
        for _ in range(args.clients)
    ]
    path = "/api/v1/environments/bench/deployments"
    yaml = {"Content-Type": "application/yaml"}

    def health(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.get("/healthz")

    def create(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.post(path, content=BLOG, headers=yaml)

    try:
        deadline = time.monotonic() + args.seconds
        warm = max(args.clients * 4, 50)
        await load("warm-up", clients, warm, health, 200, deadline)
        await load("warm-up", clients, warm, create, 201, deadline)
        before = await meter.snapshot()
        healthz = await load("healthz", clients, args.requests, health, 200, deadline)
        healthz_cpu = await meter.since(before)
        spy = start_py_spy(args.py_spy, meter.server_pid, args.py_spy_seconds)
        before = await meter.snapshot()
        creates = await load("create", clients, args.requests, create, 201, deadline)
        creates_cpu = await meter.since(before)
        if spy is not None:
            spy[0].wait()
    finally:
        for client in clients:
            await client.aclose()

    cpus = os.cpu_count()
    print(f"runway serve on Postgres, {args.clients} clients, {cpus} CPUs, at {url}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in args.load_before)}")
    print(healthz.line())
    print(creates.line())
    print(healthz_cpu.line(healthz))
    print(creates_cpu.line(creates))
    print(
        f"create / healthz: throughput x{creates.rate / healthz.rate:.2f}, "
        f"p50 x{creates.quantile(0.5) / healthz.quantile(0.5):.1f}, "
        f"p99 x{creates.quantile(0.99) / healthz.quantile(0.99):.1f}"
    )
    p99 = creates.quantile(0.99)
    ok_p99, ok_rate = p99 <= TARGET_P99, creates.rate >= TARGET_RATE
    print(
        f"targets: p99 {p99 * 1000:.1f} ms <= {TARGET_P99 * 1000:.0f} ms "
        f"{'met' if ok_p99 else 'MISSED'}; {creates.rate:.0f} creates/s >= {TARGET_RATE:.0f} "
        f"{'met' if ok_rate else 'MISSED'}"
    )
    if creates.count < args.requests:
        print(f"(stopped at the {args.seconds} s bound after {creates.count} creates)")
    if spy is not None:
        summarise_py_spy(spy[1])
    complete = creates.failures == 0 and healthz.failures == 0
    return 0 if ok_p99 and ok_rate and complete else 1


def start_py_spy(binary: str | None, pid: int, seconds: float):
    """`py-spy record` of the server for the first `seconds` of the create phase (raw stacks)."""
    if not binary:
        return None
    output = Path(tempfile.mkdtemp(prefix="runway-bench-spy-")) / "stacks.txt"
    command = [
        binary, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
        "--rate", "250", "--format", "raw", "--threads", "--nonblocking", "-o", str(output),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return process, output


def summarise_py_spy(stacks: Path, top: int = 30) -> None:
    """Samples by function: own (the frame on top) and inclusive (anywhere on the stack)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    threads: dict[str, int] = {}
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[frames[0]] = threads.get(frames[0], 0) + count
        names = [re.sub(r" \(([^)]*/)?([^/)]*):\d+\)$", r" (\2)", f) for f in frames[1:]]
        if names:
            own[names[-1]] = own.get(names[-1], 0) + count
        for name in set(names):
            inclusive[name] = inclusive.get(name, 0) + count
    print(f"\npy-spy: {total} samples of the server while creating ({stacks})")
    for thread, count in sorted(threads.items(), key=lambda kv: -kv[1]):
        print(f"  {count / total:6.1%}  {thread}")
    print("by own time:")
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {count / total:6.1%}  {name}")
    print("by inclusive time:")
    for name, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {count / total:6.1%}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="per phase")
    parser.add_argument("--seconds", type=float, default=120, help="bound on the whole load")
    parser.add_argument("--profile", action="store_true", help="run the server under cProfile")
    parser.add_argument(
        "--py-spy", metavar="BIN", help="sample the server with py-spy while it creates"
    )
    parser.add_argument(
        "--py-spy-seconds", type=float, default=8, help="how long (from the creates' start)"
    )
    args = parser.parse_args()
    args.load_before = os.getloadavg()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
