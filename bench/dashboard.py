"""The dashboard in the browser: memory of one tab's app process, and the time from opening a
monitor URL to the deployment's steps on screen, beside the API's own answer for the same
deployment in the same run (the baseline).

    python bench/dashboard.py              # 5 openings each; exit 1 if a target is missed
    python bench/dashboard.py --runs 10
    python bench/dashboard.py --separate-cores

What it does: starts two `runway serve --kube sim` (SQLite, free ports on 127.0.0.1) through the
tests' world, side by side: one as served (app processes started ahead, the pool) and one
without a pool (`RUNWAY_DASHBOARD_POOL=0`: each tab starts its process), so that both are timed
under the same load of a shared machine; their runs alternate. On each it sets up `ann`, deploys
examples/blog.yaml until it succeeds, logs in through /ui/login, then per run: waits until the
pool is ready (a tab opened no sooner than the pool refills), opens the monitor URL's websocket
as the page does and times until the step table's text (`STEP`, the four step names,
`succeeded`) has arrived, reads the app process's RSS from /proc, and closes the tab. With
Chromium installed it also times the whole page in the browser (page load, textual.js,
websocket, app) the same way. The baseline is `GET /api/v1/deployments/{id}` timed from the
same machine. On a machine shared with others the times swing with its load: the CPU time the
tab's process spent from the opening to the steps (for the pool's, since it was taken) is
printed too, which the load barely moves.

Here Chromium shares the two cores with runway, its app processes and the simulated cluster:
its start (textual.js, xterm, WebGL in software) takes a core or two for half a second, just
when the tab's app process starts, and slows it. A person's browser runs on their own machine.
`--separate-cores` pins Chromium to one core and everything else to the other, which is closer
to that: runway's share is then what it costs without the browser's contention (and the floor
is higher, Chromium having one core).

Targets (issue 11), for the server as served: at most 60 MB RSS per app process; at most 1.5 s
to the steps on screen.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from page_floor import replaying  # noqa: E402  (bench/page_floor.py, beside this script)

from runway.http.ui.processes import POOL_VARIABLE  # noqa: E402
from tests.tui.world import World, a_world  # noqa: E402
from tests.web.test_browser import RECORD_FRAMES, Screen  # noqa: E402
from tests.web.world import Person, started_pids, waiting_pids  # noqa: E402

TARGET_RSS_MB = 60.0
TARGET_OPEN_S = 1.5
STEPS = ("STEP", "db", "migrate", "web", "worker", "succeeded")
POOLED, COLD, FLOOR = "pool", "no pool", "floor"
SCREENS: dict[str, bytes] = {}
"""What a tab of each server received until the steps were on screen (the last run's)."""


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else float("nan")


def cpu_s(pid: int) -> float:
    """The process's CPU time so far (user and system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_baseline(world: World, ident: int, runs: int = 50) -> float:
    """The median time of the API's answer about the deployment (one connection, warmed)."""
    headers = {"Authorization": f"Bearer {world.token}"}
    times = []
    with httpx.Client(base_url=world.url, headers=headers) as client:
        client.get(f"/api/v1/deployments/{ident}")
        for _ in range(runs):
            start = time.perf_counter()
            client.get(f"/api/v1/deployments/{ident}").raise_for_status()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def pool_ready(world: World, pooled: bool) -> dict[int, float]:
    """Wait until the pool has a child waiting for its assignment (or a little, without one);
    the CPU time each waiting child has spent already (importing), by pid."""
    deadline = time.monotonic() + 30
    while pooled and not waiting_pids(world) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    return {pid: cpu_s(pid) for pid in waiting_pids(world)}


def websocket_openings(
    worlds: dict[str, tuple[World, int]], runs: int
) -> dict[str, tuple[list[float], list[float], list[float]]]:
    people = {}
    for name, (world, _) in worlds.items():
        people[name] = Person(world.url)
        people[name].log_in()
    found: dict[str, tuple[list[float], list[float], list[float]]] = {
        name: ([], [], []) for name in worlds
    }
    for _ in range(runs):
        for name, (world, ident) in worlds.items():
            spent = pool_ready(world, name == POOLED)
            times, sizes, cpu = found[name]
            start = time.perf_counter()
            with people[name].tab(f"/ui/ws/{ident}") as tab:
                tab.read_until(*STEPS)
                times.append(time.perf_counter() - start)
                SCREENS[name] = tab.received
                pid = started_pids(world)[-1]
                # The CPU time the tab waited for: what its process spent since it was taken.
                cpu.append(cpu_s(pid) - spent.get(pid, 0.0))
                time.sleep(1.0)  # settled: the app has drawn and is idle
                sizes.append(rss_mb(pid))
    return found


def browser_openings(
    worlds: dict[str, tuple[World, int]], runs: int, chromium: str | None
) -> dict[str, list[float]]:
    """Each server's monitor URL opened `runs` times in Chromium, and the floor's page (the
    same page replaying the pooled server's screen, bench/page_floor.py), in turns."""
    if chromium is None:
        print("Chromium is not installed: the browser timing is skipped")
        return {}
    from playwright.sync_api import sync_playwright

    found: dict[str, list[float]] = {name: [] for name in (*worlds, FLOOR)}
    with sync_playwright() as playwright, replaying(SCREENS[POOLED]) as floor_url:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox"], headless=True
        )
        contexts: dict[str, Any] = {}
        for name, (world, _) in worlds.items():
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_init_script(RECORD_FRAMES)
            login = context.new_page()
            login.goto(f"{world.url}/ui/login")
            login.fill("input[name=username]", "ann")
            login.fill("input[name=password]", "correct horse battery")
            login.click("button[type=submit]")
            login.wait_for_url("**/ui/")
            login.close()
            contexts[name] = context
        contexts[FLOOR] = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts[FLOOR].add_init_script(RECORD_FRAMES)
        urls = {
            name: f"{world.url}/ui/deployments/{ident}" for name, (world, ident) in worlds.items()
        }
        urls[FLOOR] = floor_url
        for _ in range(runs):
            for name, url in urls.items():
                if name in worlds:
                    pool_ready(worlds[name][0], name == POOLED)
                else:
                    time.sleep(0.5)  # as pool_ready waits
                page = contexts[name].new_page()
                start = time.perf_counter()
                page.goto(url)
                Screen(page).wait_for(*STEPS)
                found[name].append(time.perf_counter() - start)
                page.close()
        browser.close()
    return found


@contextlib.contextmanager
def a_server(base: Path, pool: str | None) -> Iterator[tuple[World, int]]:
    """A world whose server has a pool of `pool` (None: the default), with a deployment."""
    base.mkdir()
    before = os.environ.get(POOL_VARIABLE)
    if pool is not None:
        os.environ[POOL_VARIABLE] = pool
    try:
        with a_world(base) as world:
            if pool is not None:
                os.environ.pop(POOL_VARIABLE, None)
            world.environment("bench")
            yield world, world.deployed("bench", "bench.example.com")
    finally:
        if before is None:
            os.environ.pop(POOL_VARIABLE, None)
        else:
            os.environ[POOL_VARIABLE] = before


def pinned_chromium(base: Path) -> str | None:
    """Chromium on the last core alone, and this process (and so the servers it starts, their
    app processes and the simulator) on the others: a script Playwright launches instead."""
    chromium = shutil.which("chromium")
    cores = sorted(os.sched_getaffinity(0))
    if chromium is None or len(cores) < 2:
        raise SystemExit("--separate-cores needs Chromium and at least two cores")
    os.sched_setaffinity(0, cores[:-1])
    script = base / "chromium-on-its-core"
    script.write_text(f'#!/bin/sh\nexec taskset -c {cores[-1]} {chromium} "$@"\n')
    script.chmod(0o755)
    return str(script)


def report(name: str, times: list[float], baseline: float) -> str:
    middle = statistics.median(times)
    return (
        f"{name:>7}: median {middle:.2f} s, min {min(times):.2f} s, max {max(times):.2f} s"
        f" ({middle / baseline:.0f}x the API's answer)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--separate-cores",
        action="store_true",
        help="Chromium on one core, runway and the rest on the other (see above)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as base, contextlib.ExitStack() as stack:
        chromium = pinned_chromium(Path(base)) if args.separate_cores else shutil.which("chromium")
        worlds = {
            POOLED: stack.enter_context(a_server(Path(base) / "pooled", None)),
            COLD: stack.enter_context(a_server(Path(base) / "cold", "0")),
        }
        world, ident = worlds[POOLED]
        baseline = api_baseline(world, ident)
        opened = websocket_openings(worlds, args.runs)
        in_browser = browser_openings(worlds, args.runs, chromium)
    load_after = os.getloadavg()
    before, after = (" ".join(f"{x:.2f}" for x in load) for load in (load_before, load_after))
    print(f"load average (1, 5, 15 min): {before} before, {after} after, on {os.cpu_count()} cores")
    if args.separate_cores:
        print("Chromium on a core of its own; runway, its apps and the simulator on the rest")
    print(f"API GET /api/v1/deployments/{ident}: median {baseline * 1000:.1f} ms (baseline)")
    print("monitor URL to steps on screen, websocket as the page opens it:")
    for name, (times, _, _) in opened.items():
        print(report(name, times, baseline))
    print("CPU time the app process spent from the tab's opening to the steps (load-proof):")
    for name, (_, _, cpu) in opened.items():
        print(f"{name:>7}: median {statistics.median(cpu):.2f} s, max {max(cpu):.2f} s")
    worst = max(opened[POOLED][0])
    if in_browser:
        print("monitor URL to steps on screen, the whole page in Chromium:")
        for name, times in in_browser.items():
            print(report(name, times, baseline))
        worst = max(worst, statistics.median(in_browser[POOLED]))
        floor, pooled = (statistics.median(in_browser[n]) for n in (FLOOR, POOLED))
        print(
            f"  floor: the same page with its screen replayed at once, no app behind it "
            f"(bench/page_floor.py): what Chromium itself takes here; runway's share of the "
            f"pool's opening is {pooled - floor:.2f} s"
        )
    sizes = opened[POOLED][1]
    rss = max(sizes)
    print(f"app process RSS: median {statistics.median(sizes):.1f} MB, max {rss:.1f} MB")
    missed = []
    if rss > TARGET_RSS_MB:
        missed.append(f"RSS {rss:.1f} MB > {TARGET_RSS_MB} MB")
    if worst > TARGET_OPEN_S:
        missed.append(f"opening took {worst:.2f} s > {TARGET_OPEN_S} s")
    for line in missed:
        print(f"target missed: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
