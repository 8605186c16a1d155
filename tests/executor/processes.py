"""Real runway instances, each `runway serve` in a process of its own, on one fresh Postgres
database and the simulated cluster in its own process: the world of the tests that kill, pause
and stop instances in the middle of deployments (tests/executor/test_processes.py) and of
bench/crash.py, which does it twenty times.

What they check is read where nobody can tidy it up: the database (leases, deployments, events)
through a connection of the harness's own, and the simulator's request log (`GET /_sim/requests`:
every request's time, method, path, status and User-Agent, which names the instance that sent it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from runway.deploy.connection import user_agent
from runway.simcluster.process import SimProcess, run_simulator

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
PASSWORD = "a crash-test passphrase"
ENVIRONMENT = "crash"
ACTIVE = ("running", "waiting_for_input")
FINAL = ("succeeded", "failed", "cancelled", "superseded")
START_TIMEOUT = 60.0
"""Seconds an instance may take to serve (a loaded 2-core machine imports slowly)."""
SIM_KEEPS = 10_000
"""How many requests the simulator's log keeps (runway.simcluster.cluster): read more often."""
SERVING = re.compile(r"runway serving (http://\S+) ")

SMALL = "resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 20m, memory: 32Mi}}"


def config(round_: int) -> str:
    """A deployment of three steps one after the other, the first a Job: killed at any moment,
    it is in the middle of something (a Job running, a Deployment waiting for readiness).
    `round_` goes into every pod template, so each deployment makes new pods (and waits for
    them) instead of finding the last one's ready."""
    env = f'env: {{ROUND: "{round_}"}}'
    return f"""runway: 1
app: crash
services:
  migrate:
    kind: job
    image: ghcr.io/example/etl:1
    args: [migrate]
    {env}
    {SMALL}
  api:
    image: ghcr.io/example/api:1
    ports: [8080]
    ready: {{tcp: 8080}}
    depends_on: [migrate]
    {env}
    {SMALL}
  web:
    image: ghcr.io/example/web:1
    ports: [8080]
    ready: {{tcp: 8080}}
    depends_on: [api]
    {env}
    {SMALL}
"""


@dataclass(frozen=True)
class LeaseTimings:
    """`runway serve --lease-ttl/--lease-renew/--lease-scan`, in seconds."""

    ttl: float = 10.0
    renew: float = 3.0
    scan: float = 3.0

    def flags(self) -> list[str]:
        return [
            *("--lease-ttl", str(self.ttl)),
            *("--lease-renew", str(self.renew)),
            *("--lease-scan", str(self.scan)),
        ]


@dataclass
class Instance:
    """One `runway serve` process."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def user_agent(self) -> str:
        return user_agent(self.name)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass(frozen=True)
class Sent:
    """One request the simulated cluster received."""

    index: int
    time: float
    method: str
    path: str
    status: int
    user_agent: str
    query: str = ""


@dataclass(frozen=True)
class Killed:
    """A deployment whose owner was killed, and when (time.time())."""

    deployment_id: int
    owner: Instance
    at: float


@dataclass
class Fleet:
    """The instances, the database and the simulator of one test."""

    directory: Path
    database_url: str
    sim: SimProcess
    leases: LeaseTimings
    db: asyncpg.Connection
    instances: list[Instance] = field(default_factory=list)
    token: str = ""
    sent: list[Sent] = field(default_factory=list)
    _next_request: int = 0
    _count: int = 0
    _rounds: int = 0

    # -- instances -------------------------------------------------------------------------

    async def start(self, count: int = 1) -> list[Instance]:
        """`count` new instances, started together, once each serves."""
        started = [self._spawn() for _ in range(count)]
        await asyncio.gather(*(self._until_serving(instance) for instance in started))
        return started

    def _spawn(self) -> Instance:
        self._count += 1
        name = f"i{self._count}-{secrets.token_hex(2)}"
        log = self.directory / f"{name}.log"
        data = self.directory / name
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(data)}
        env.pop("KUBECONFIG", None)
        command = [
            *(sys.executable, "-m", "runway", "serve", "--port", "0"),
            *("--database-url", self.database_url, "--data-dir", str(data)),
            *("--kube", str(self.sim.kubeconfig), "--instance-name", name),
            *self.leases.flags(),
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        instance = Instance(name, process, log)
        self.instances.append(instance)
        return instance

    async def _until_serving(self, instance: Instance) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert instance.alive(), f"{instance.name} exited:\n{instance.output()}"
            found = SERVING.search(instance.output())
            if found:
                instance.url = found.group(1)
                with contextlib.suppress(httpx.HTTPError):
                    async with httpx.AsyncClient(base_url=instance.url, timeout=2) as client:
                        if (await client.get("/readyz")).status_code == 200:
                            return
            assert time.monotonic() < deadline, f"{instance.name} not ready:\n{instance.output()}"
            await asyncio.sleep(0.05)

    def by_name(self, name: str) -> Instance:
        return next(instance for instance in self.instances if instance.name == name)

    def live(self) -> Instance:
        """A running instance to send API requests to."""
        for instance in self.instances:
            if instance.alive():
                return instance
        raise AssertionError("no instance is running")

    def stop_all(self) -> None:
        """Every instance gone (continued first if it was paused), and reaped."""
        for instance in self.instances:
            if instance.alive():
                with contextlib.suppress(ProcessLookupError):
                    instance.process.send_signal(signal.SIGCONT)
                    instance.process.kill()
            instance.process.wait(timeout=30)

    # -- the API ---------------------------------------------------------------------------

    def client(self, instance: Instance) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.AsyncClient(base_url=instance.url, headers=headers, timeout=30)

    async def log_in(self) -> None:
        """Sign in as the admin `setup` made; make the environment the deployments go to."""
        async with self.client(self.live()) as anyone:
            answer = await anyone.post(
                "/api/v1/sessions", json={"username": "root", "password": PASSWORD}
            )
            assert answer.status_code == 201, answer.text
            self.token = str(answer.json()["token"])
        async with self.client(self.live()) as client:
            made = await client.post("/api/v1/environments", json={"name": ENVIRONMENT})
            assert made.status_code == 201, made.text

    async def behave(self, **behaviour: float) -> None:
        async with httpx.AsyncClient(base_url=self.sim.url, verify=False) as sim:
            answer = await sim.put("/_sim/behaviour", json=behaviour)
            assert answer.status_code == 200, answer.text

    async def deploy(self, via: Instance) -> int:
        """A new deployment (`config`), started through `via`; its id."""
        self._rounds += 1
        async with self.client(via) as client:
            made = await client.post(
                f"/api/v1/environments/{ENVIRONMENT}/deployments",
                content=config(self._rounds).encode(),
                headers={"Content-Type": "application/yaml"},
            )
            assert made.status_code == 201, made.text
            deployment_id = int(made.json()["id"])
            started = await client.post(f"/api/v1/deployments/{deployment_id}/start")
            assert started.status_code == 200, f"{started.text}\n{via.output()}"
        return deployment_id

    async def kill_owner_midway(self, rng: random.Random, window: float) -> Killed:
        """A deployment started, whose owner is killed (SIGKILL) at a random moment within
        `window` seconds of taking it, while the deployment still runs. One that ended before
        its moment came is followed by another, so that every kill lands in the middle of one.
        The killed process is reaped."""
        while True:
            deployment_id = await self.deploy(self.live())
            await self.owner(deployment_id)
            await asyncio.sleep(rng.uniform(0.0, window))
            held = await self.lease(deployment_id)
            if held is None or await self.status(deployment_id) != "running":
                await self.until_final(deployment_id, 120)
                continue
            owner = self.by_name(held[0])
            owner.process.kill()
            at = time.time()
            owner.process.wait()
            return Killed(deployment_id, owner, at)

    # -- the database ----------------------------------------------------------------------

    async def status(self, deployment_id: int) -> str:
        return str(
            await self.db.fetchval("SELECT status FROM deployments WHERE id = $1", deployment_id)
        )

    async def lease(self, deployment_id: int) -> tuple[str, int] | None:
        """The deployment's lease while held (owner, epoch); None when nobody holds it."""
        row = await self.db.fetchrow(
            "SELECT owner, epoch FROM leases WHERE deployment_id = $1 AND expires_at > now()",
            deployment_id,
        )
        return None if row is None else (str(row["owner"]), int(row["epoch"]))

    async def owner(self, deployment_id: int, timeout: float = 30) -> Instance:
        """The instance that holds the deployment's lease, once one does."""
        deadline = time.monotonic() + timeout
        while (held := await self.lease(deployment_id)) is None:
            assert time.monotonic() < deadline, f"nobody took deployment {deployment_id}"
            await asyncio.sleep(0.02)
        return self.by_name(held[0])

    async def events(self, deployment_id: int) -> list[dict[str, Any]]:
        """The deployment's events as stored: id, at (seconds since the epoch), type, data."""
        rows = await self.db.fetch(
            "SELECT id, at, type, data FROM events WHERE deployment_id = $1 ORDER BY id",
            deployment_id,
        )
        return [
            {
                "id": int(row["id"]),
                "at": _seconds(row["at"]),
                "type": str(row["type"]),
                "data": json.loads(row["data"]) if isinstance(row["data"], str) else row["data"],
            }
            for row in rows
        ]

    async def namespace(self) -> str:
        return str(
            await self.db.fetchval(
                "SELECT namespace FROM environments WHERE name = $1", ENVIRONMENT
            )
        )

    async def until_final(self, deployment_id: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (status := await self.status(deployment_id)) not in FINAL:
            assert time.monotonic() < deadline, f"deployment {deployment_id} still {status}"
            await asyncio.sleep(0.05)
        return status

    async def until(self, deployment_id: int, step: str, statuses: tuple[str, ...]) -> None:
        """Until the deployment's `step` is in one of `statuses`."""
        deadline = time.monotonic() + 60
        while True:
            found = await self.db.fetchval(
                "SELECT status FROM steps WHERE deployment_id = $1 AND name = $2",
                deployment_id,
                step,
            )
            if found in statuses:
                return
            assert time.monotonic() < deadline, f"step {step} still {found}"
            await asyncio.sleep(0.02)

    async def active(self) -> list[int]:
        rows = await self.db.fetch(
            "SELECT id FROM deployments WHERE status = ANY($1::text[]) ORDER BY id", list(ACTIVE)
        )
        return [int(row["id"]) for row in rows]

    # -- the simulator's request log --------------------------------------------------------

    async def requests(self) -> list[Sent]:
        """Every request the simulator received so far (read since the last call, and kept:
        the simulator keeps only its latest ones). AssertionError when some were lost."""
        async with httpx.AsyncClient(base_url=self.sim.url, verify=False, timeout=30) as sim:
            answer = await sim.get("/_sim/requests", params={"since": self._next_request})
        answer.raise_for_status()
        body = answer.json()
        items = body["items"]
        kept = int(body["next"]) - self._next_request
        assert kept <= SIM_KEEPS, (
            f"the simulator forgot {kept - SIM_KEEPS} requests before they were read"
        )
        self.sent.extend(
            Sent(
                int(r["index"]),
                float(r["time"]),
                str(r["method"]),
                str(r["path"]),
                int(r["status"]),
                str(r["user_agent"]),
                str(r.get("query") or ""),
            )
            for r in items
        )
        self._next_request = int(body["next"])
        return self.sent

    # -- what a kill, pause or stop may not break --------------------------------------------

    async def problems(self, deployment_id: int) -> list[str]:
        """What went wrong with a deployment that should have succeeded: its status, gaps or
        repeats in its event ids, events after its end, its Jobs created more than once."""
        found: list[str] = []
        status = await self.status(deployment_id)
        if status != "succeeded":
            found.append(f"deployment {deployment_id} ended {status}")
        events = await self.events(deployment_id)
        ids = [event["id"] for event in events]
        if ids != list(range(1, len(ids) + 1)):
            found.append(f"deployment {deployment_id}: event ids {ids} are not 1..{len(ids)}")
        ends = [
            i
            for i, event in enumerate(events)
            if event["type"] == "deployment" and event["data"].get("status") in FINAL
        ]
        if len(ends) != 1 or ends[0] != len(events) - 1:
            found.append(f"deployment {deployment_id}: final events at {ends} of {len(events)}")
        found += _steps_redone(deployment_id, events)
        found += await self.job_problems(deployment_id)
        return found

    async def job_problems(self, deployment_id: int) -> list[str]:
        """Each Job of the deployment created exactly once: one 201 to a POST or an apply. (A
        later deployment's prune deletes it: that is not a second run.)"""
        number = await self.db.fetchval(
            "SELECT number FROM deployments WHERE id = $1", deployment_id
        )
        namespace = await self.namespace()
        path = f"/apis/batch/v1/namespaces/{namespace}/jobs/crash-migrate-{number}"
        created = [
            r
            for r in await self.requests()
            if r.path == path and r.method in ("POST", "PATCH") and r.status == 201
        ]
        if len(created) != 1:
            return [f"deployment {deployment_id}: Job {path} created {len(created)} times"]
        return []

    async def first_progress(
        self, deployment_id: int, after: float, besides: Instance, timeout: float
    ) -> float:
        """When (time.time()) the deployment first progressed after `after` other than by
        `besides`: an event stored, or a request to its namespace from another instance."""
        namespace = f"/namespaces/{await self.namespace()}/"
        deadline = time.monotonic() + timeout
        while True:
            sent = await self.requests()
            moments = [
                r.time
                for r in sent
                if r.time > after and namespace in r.path and r.user_agent != besides.user_agent
            ]
            moments += [e["at"] for e in await self.events(deployment_id) if e["at"] > after]
            if moments:
                return min(moments)
            assert time.monotonic() < deadline, f"deployment {deployment_id} did not progress"
            await asyncio.sleep(0.05)


def _steps_redone(deployment_id: int, events: list[dict[str, Any]]) -> list[str]:
    """Steps with an event after the one that said they succeeded. A step resumed by another
    instance is applied again, but only if it had not succeeded: a step changed after its
    success was changed by an instance that no longer ran the deployment."""
    done: set[str] = set()
    found: list[str] = []
    for event in events:
        step = event["data"].get("step")
        if event["type"] != "step" or step is None:
            continue
        if step in done:
            found.append(f"deployment {deployment_id}: event {event['id']} after {step} succeeded")
        if event["data"].get("status") == "succeeded":
            done.add(step)
    return found


def _seconds(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


@contextlib.asynccontextmanager
async def a_fleet(
    directory: Path, leases: LeaseTimings, *, instances: int = 2, ready_delay: float = 0.5
) -> AsyncIterator[Fleet]:
    """A fresh database with an admin, the simulator, and `instances` instances serving;
    afterwards every process stopped and the database dropped."""
    name = f"runway_crash_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{POSTGRES}/{name}"
    try:
        with _set_up(directory, url) as setup, run_simulator(directory) as sim:
            assert setup.wait(timeout=60) == 0, setup.stderr.read() if setup.stderr else ""
            db = await asyncpg.connect(url)
            fleet = Fleet(directory, url, sim, leases, db)
            try:
                await fleet.behave(ready_delay=ready_delay)
                await fleet.start(instances)
                await fleet.log_in()
                yield fleet
            finally:
                fleet.stop_all()
                await db.close()
    finally:
        admin = await asyncpg.connect(f"{POSTGRES}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.contextmanager
def _set_up(directory: Path, url: str) -> Iterator[subprocess.Popen[str]]:
    """`runway setup --admin root` running (while the simulator starts): the database migrated
    and its first admin made. Killed if the block ends before it did."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "runway", "setup", "--admin", "root", "--password-stdin"),
            *("--database-url", url, "--data-dir", str(directory / "setup")),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None
        process.stdin.write(PASSWORD + "\n")
        process.stdin.close()
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def children_left(pids: list[int]) -> list[int]:
    """Those of `pids` still this process's children: running, or dead but not reaped (a pid
    reused since by another process's child does not count)."""
    left = []
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                left.append(pid)
    return left
