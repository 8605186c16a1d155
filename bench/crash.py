"""Instances killed in the middle of deployments, twenty times, with the default lease settings
(issue 9): is every deployment taken over, how soon, and is anything lost or done twice?

    python bench/crash.py [--kills 20] [--seed N] [--ready-delay 2] [--window 4]

What runs (tests/executor/processes.py, shared with tests/executor/test_processes.py): two `runway
serve` processes on one fresh Postgres database (127.0.0.1:5432, user postgres), with the
default leases (ttl 10 s, renew 3 s, scan 3 s), and `runway sim-cluster --admin` in its own
process, every pod ready READY_DELAY seconds after it is made. KILLS times in a row: a deployment
of three steps one after the other (a Job, then two Deployments) is created and started over
HTTP; at a random moment within WINDOW seconds of an instance taking its lease, that instance is
killed with SIGKILL (a deployment that ended first is followed by another, so every kill lands in
the middle of one), a replacement instance is started, and the deployment is waited for.

Figures and targets:
- kills survived: deployments whose owner was killed that end `succeeded`: target KILLS/KILLS;
- takeover time, from the kill to the deployment's first progress by another instance (an event
  stored, or a request to its namespace with another instance's User-Agent in the simulator's
  request log): p50 and max, target max <= 15 s (the lease's 10 s, a scan's 3 s, and some);
- lost: event ids missing or repeated, events after a deployment's end, a step changed after it
  succeeded, a Job created more than once, a deployment left active, a process left behind:
  target nothing.
Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.executor.processes import Fleet, LeaseTimings, a_fleet, children_left

TAKEOVER_TARGET = 15.0
DEPLOYMENT_TIMEOUT = 120.0


async def run(kills: int, seed: int, ready_delay: float, window: float) -> int:
    rng = random.Random(seed)
    print(f"seed {seed}, {kills} kills, ready_delay {ready_delay} s, default leases")
    began = time.monotonic()
    takeovers: list[float] = []
    survived = 0
    lost: list[str] = []
    with tempfile.TemporaryDirectory(prefix="runway-crash-") as directory:
        async with a_fleet(Path(directory), LeaseTimings(), ready_delay=ready_delay) as fleet:
            pids = [instance.pid for instance in fleet.instances]
            try:
                for number in range(1, kills + 1):
                    took, ok, problems = await _one_kill(fleet, rng, window, pids)
                    survived += ok
                    lost += problems
                    if took is not None:
                        takeovers.append(took)
                    shown = "-" if took is None else f"{took:.2f} s"
                    said = "ok" if ok else f"FAILED: {'; '.join(problems)}"
                    print(f"kill {number:2}: takeover {shown}, {said}", flush=True)
                lost += [f"deployment {d} left active" for d in await fleet.active()]
            finally:
                fleet.stop_all()
            lost += [f"process {pid} left behind" for pid in children_left(pids)]
    print(f"wall time {time.monotonic() - began:.0f} s")
    return _report(kills, survived, takeovers, lost)


async def _one_kill(
    fleet: Fleet, rng: random.Random, window: float, pids: list[int]
) -> tuple[float | None, bool, list[str]]:
    """One kill: the takeover time (None when nobody took over), whether the deployment
    succeeded, and what was lost."""
    killed = await fleet.kill_owner_midway(rng, window)
    pids += [instance.pid for instance in await fleet.start()]
    try:
        progress = await fleet.first_progress(
            killed.deployment_id, killed.at, killed.owner, timeout=DEPLOYMENT_TIMEOUT
        )
        status = await fleet.until_final(killed.deployment_id, DEPLOYMENT_TIMEOUT)
    except AssertionError as error:
        return None, False, [str(error)]
    problems = await fleet.problems(killed.deployment_id)
    return progress - killed.at, status == "succeeded" and not problems, problems


def _report(kills: int, survived: int, takeovers: list[float], lost: list[str]) -> int:
    missed = []
    print(f"kills survived: {survived}/{kills} (target {kills}/{kills})")
    if survived < kills:
        missed.append("kills survived")
    if takeovers:
        p50, worst = statistics.median(takeovers), max(takeovers)
        print(f"takeover: p50 {p50:.2f} s, max {worst:.2f} s (target max <= {TAKEOVER_TARGET:g} s)")
        if worst > TAKEOVER_TARGET:
            missed.append("takeover max")
    print("lost: " + ("nothing" if not lost else "; ".join(lost)) + " (target nothing)")
    if lost:
        missed.append("lost")
    if missed:
        print(f"MISSED: {', '.join(missed)}")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--ready-delay", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=4.0)
    args = parser.parse_args()
    return asyncio.run(run(args.kills, args.seed, args.ready_delay, args.window))


if __name__ == "__main__":
    sys.exit(main())
