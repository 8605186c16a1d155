"""Instances that die, freeze or stop in the middle of deployments (issue 9): real `runway serve`
processes on one Postgres database, short leases, the simulated cluster in its own process.

- SIGKILL the instance that runs a deployment, at a random moment, three times: each deployment
  is taken over by another instance and succeeds, its events stay contiguous, its Job is created
  once, and nothing is left active.
- SIGSTOP it past its lease: another takes over and finishes; continued (after the new owner
  progressed, or at once), the frozen one writes nothing, to the database or the cluster.
- SIGTERM it: it hands its deployment over at once (under 2 s), which then succeeds.
- (expected to fail for now) freeze it inside a write transaction: the takeover must not wait
  for it to wake up.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from runway.store.database import IDLE_IN_TRANSACTION, Db
from tests.executor.processes import Fleet, Instance, LeaseTimings, a_fleet, children_left
from tests.store.store_worlds import PG_HOST, PG_PORT, pg_reachable

IDLE_IN_TRANSACTION_SECONDS = float(IDLE_IN_TRANSACTION.removesuffix("s"))

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not pg_reachable(), reason=f"no PostgreSQL on {PG_HOST}:{PG_PORT}"),
]

SHORT = LeaseTimings(ttl=1.5, renew=0.4, scan=0.4)
"""Leases short enough that three takeovers fit in seconds. A renewal late by more than 0.7 s on a
loaded machine (the lease is surely held for ttl less a margin, 1.125 s, after a renewal began)
makes a run stop acting; the deployment is then taken over like a killed one's: slower, not
failed."""
KILLS = 3
SEED = 20261128
DEPLOYMENT_TIMEOUT = 60.0


async def test_instances_killed_mid_deployment_lose_nothing(tmp_path: Path) -> None:
    try:
        await _kill_and_replace(tmp_path, random.Random(SEED))
    except AssertionError as error:
        raise AssertionError(f"(random seed {SEED}) {error}") from error


async def _kill_and_replace(directory: Path, rng: random.Random) -> None:
    """Kill the owner of a running deployment KILLS times, starting a replacement each time
    (two instances run all along but for moments); then check what each deployment left."""
    async with a_fleet(directory, SHORT, ready_delay=0.6) as fleet:
        pids = [instance.pid for instance in fleet.instances]
        try:
            deployments = []
            for _ in range(KILLS):
                killed = await fleet.kill_owner_midway(rng, window=1.5)
                deployments.append(killed.deployment_id)
                pids += [instance.pid for instance in await fleet.start()]
                status = await fleet.until_final(killed.deployment_id, DEPLOYMENT_TIMEOUT)
                assert status == "succeeded", f"deployment {killed.deployment_id} {status}"
            problems = [p for d in deployments for p in await fleet.problems(d)]
            assert problems == []
            assert await fleet.active() == []
            assert sum(not instance.alive() for instance in fleet.instances) == KILLS
        finally:
            fleet.stop_all()
        assert children_left(pids) == []


async def test_a_frozen_instance_past_its_lease_acts_no_more_once_continued(
    tmp_path: Path,
) -> None:
    async with a_fleet(tmp_path, SHORT, ready_delay=1.5) as fleet:
        await _frozen_past_lease(fleet, wake_after_progress=True)
        await _frozen_past_lease(fleet, wake_after_progress=False)


async def _frozen_past_lease(fleet: Fleet, *, wake_after_progress: bool) -> None:
    """Freeze (SIGSTOP) the owner of a deployment while it waits for a step's readiness, until
    another instance holds the lease; continue it (SIGCONT) once the new owner has progressed,
    or at once, when the two race: the frozen run wakes up with readiness news to write and the
    next step to apply. It may do neither: the deployment succeeds with a clean history, and the
    frozen instance sends the cluster no write after the takeover."""
    deployment_id = await fleet.deploy(fleet.live())
    frozen = await fleet.owner(deployment_id)
    _, epoch = await fleet.lease(deployment_id) or ("", 0)
    await fleet.until(deployment_id, "api", ("waiting_ready",))
    await _watching(fleet, frozen, ("deployments", "replicasets", "pods"))
    frozen.process.send_signal(signal.SIGSTOP)
    try:
        taken_at = await _taken_over(fleet, deployment_id, frozen)
        if wake_after_progress:
            await fleet.first_progress(deployment_id, taken_at, frozen, timeout=30)
            assert await fleet.status(deployment_id) == "running"
    finally:
        frozen.process.send_signal(signal.SIGCONT)
    assert await fleet.until_final(deployment_id, DEPLOYMENT_TIMEOUT) == "succeeded"
    await asyncio.sleep(SHORT.ttl + 4 * SHORT.renew)  # time for it to try anything
    assert await fleet.problems(deployment_id) == []
    late = [
        f"{r.method} {r.path} {r.status} at +{r.time - taken_at:.2f}s"
        for r in await fleet.requests()
        if r.user_agent == frozen.user_agent and r.time > taken_at
    ]
    # Reads too: its shared watches hold their requests back once no run of theirs may act.
    assert late == [], f"the frozen instance asked the cluster after losing its lease:\n{late}"
    owner, new_epoch = await fleet.db.fetchrow(
        "SELECT owner, epoch FROM leases WHERE deployment_id = $1", deployment_id
    )
    assert owner != frozen.name
    assert new_epoch > epoch
    assert frozen.alive()
    said = rf"lost the lease of deployment {deployment_id}:|deployment {deployment_id} is run by"
    assert re.search(said, frozen.output()), frozen.output()


async def _watching(fleet: Fleet, instance: Instance, collections: tuple[str, ...]) -> None:
    """Until `instance` has the watches of its readiness wait open. Frozen while it opens
    them, it would send their requests when continued: each passed its lease check just
    before, and no check can stop a request a process is frozen in the middle of sending
    (only a fence the cluster itself checks could). That is not what is tested here: a
    paused instance deciding anew whether it may act."""
    deadline = time.monotonic() + 30
    while True:
        opened = {
            sent.path.rsplit("/", 1)[-1]
            for sent in await fleet.requests()
            if sent.user_agent == instance.user_agent and "watch=true" in sent.query
        }
        if set(collections) <= opened:
            return
        assert time.monotonic() < deadline, f"{instance.name} opened only {sorted(opened)}"
        await asyncio.sleep(0.05)


async def _taken_over(fleet: Fleet, deployment_id: int, frozen: Instance) -> float:
    """When (time.time()) another instance held the deployment's lease."""
    deadline = time.monotonic() + 30
    while True:
        held = await fleet.lease(deployment_id)
        if held is not None and held[0] != frozen.name:
            return time.time()
        assert time.monotonic() < deadline, "nobody took the frozen instance's deployment over"
        await asyncio.sleep(0.02)


HANDOVER = 2.0
"""Seconds a stopping instance may take to hand its deployment over (issue 9)."""


async def test_a_stopping_instance_hands_its_deployment_over_at_once(tmp_path: Path) -> None:
    # Default leases: a takeover within 2 s cannot be a lease that lapsed (10 s).
    async with a_fleet(tmp_path, LeaseTimings(), ready_delay=1.0) as fleet:
        deployment_id = await fleet.deploy(fleet.live())
        owner = await fleet.owner(deployment_id)
        await fleet.until(deployment_id, "api", ("waiting_ready",))
        stopped_at = time.time()
        owner.process.send_signal(signal.SIGTERM)
        progress = await fleet.first_progress(deployment_id, stopped_at, owner, timeout=30)
        assert owner.process.wait(timeout=30) == 0, owner.output()
        took = progress - stopped_at
        assert took < HANDOVER, f"handed over in {took:.2f} s:\n{owner.output()}"
        assert await fleet.until_final(deployment_id, DEPLOYMENT_TIMEOUT) == "succeeded"
        assert await fleet.problems(deployment_id) == []


async def test_an_instance_frozen_inside_a_write_does_not_block_the_takeover(
    tmp_path: Path,
) -> None:
    """An instance frozen between its fenced write's `Leases.hold` (the lease row locked FOR
    SHARE) and its commit: its lease lapses, and another must still take the deployment over.
    The frozen transaction is played by a write of runway's own store code (its connections,
    their settings), stuck holding what `hold` holds, while the owner is stopped (SIGSTOP) so
    it does not renew."""
    async with a_fleet(tmp_path, SHORT, ready_delay=1.5) as fleet:
        deployment_id = await fleet.deploy(fleet.live())
        owner = await fleet.owner(deployment_id)
        await fleet.until(deployment_id, "api", ("waiting_ready",))
        db = Db(fleet.database_url)
        await db.connect()
        holding = asyncio.Event()

        async def frozen_write() -> None:
            async with db.write():
                await db.fetch_one(
                    sa.text(
                        "SELECT epoch FROM leases WHERE deployment_id = :id FOR SHARE"
                    ).bindparams(id=deployment_id)
                )
                holding.set()
                await asyncio.sleep(120)  # frozen: no word to the server

        frozen = asyncio.create_task(frozen_write())
        try:
            await holding.wait()
            owner.process.send_signal(signal.SIGSTOP)
            idle = IDLE_IN_TRANSACTION_SECONDS
            deadline = time.monotonic() + SHORT.ttl + SHORT.scan + idle + 5.0
            while (held := await fleet.lease(deployment_id)) is None or held[0] == owner.name:
                assert time.monotonic() < deadline, "nobody took the deployment over"
                await asyncio.sleep(0.05)
        finally:
            owner.process.send_signal(signal.SIGCONT)
            frozen.cancel()
            await asyncio.gather(frozen, return_exceptions=True)
            await db.close()
