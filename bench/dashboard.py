"""The dashboard in the browser: memory of one tab's app process, and the time from opening a
monitor URL to the deployment's steps on screen, beside the API's own answer for the same
deployment in the same run (the baseline).

    python bench/dashboard.py              # 5 openings; exit 1 if a target is missed
    python bench/dashboard.py --runs 10

What it does: starts `runway serve --kube sim` (SQLite, a free port on 127.0.0.1) through the
tests' world, sets up `ann`, deploys examples/blog.yaml until it succeeds, logs in through
/ui/login, then per run: opens the monitor URL's websocket as the page does and times until the
step table's text (`STEP`, the four step names, `succeeded`) has arrived, reads the app
process's RSS from /proc, and closes the tab. With Chromium installed it also times the whole
page in the browser (page load, textual.js, websocket, app) the same way. The baseline is
`GET /api/v1/deployments/{id}` timed from the same machine.

Targets (issue 11): at most 60 MB RSS per app process; at most 1.5 s to the steps on screen.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.tui.world import World, a_world  # noqa: E402
from tests.web.test_browser import RECORD_FRAMES, Screen  # noqa: E402
from tests.web.world import Person  # noqa: E402

TARGET_RSS_MB = 60.0
TARGET_OPEN_S = 1.5
STEPS = ("STEP", "db", "migrate", "web", "worker", "succeeded")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else float("nan")


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


def websocket_openings(world: World, ident: int, runs: int) -> tuple[list[float], list[float]]:
    ann = Person(world.url)
    ann.log_in()
    times, sizes = [], []
    for _ in range(runs):
        start = time.perf_counter()
        with ann.tab(f"/ui/ws/{ident}") as tab:
            tab.read_until(*STEPS)
            times.append(time.perf_counter() - start)
            time.sleep(1.0)  # settled: the app has drawn and is idle
            pids = re.findall(r"dashboard process (\d+) started", world.server.output())
            sizes.append(rss_mb(int(pids[-1])))
        time.sleep(0.5)
    return times, sizes


def browser_openings(world: World, ident: int, runs: int) -> list[float]:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("Chromium is not installed: the browser timing is skipped")
        return []
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox"], headless=True
        )
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(RECORD_FRAMES)
        login = context.new_page()
        login.goto(f"{world.url}/ui/login")
        login.fill("input[name=username]", "ann")
        login.fill("input[name=password]", "correct horse battery")
        login.click("button[type=submit]")
        login.wait_for_url("**/ui/")
        login.close()
        for _ in range(runs):
            page = context.new_page()
            start = time.perf_counter()
            page.goto(f"{world.url}/ui/deployments/{ident}")
            Screen(page).wait_for(*STEPS)
            times.append(time.perf_counter() - start)
            page.close()
            time.sleep(0.5)
        browser.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base, a_world(Path(base)) as world:
        world.environment("bench")
        ident = world.deployed("bench", "bench.example.com")
        baseline = api_baseline(world, ident)
        opened, sizes = websocket_openings(world, ident, args.runs)
        in_browser = browser_openings(world, ident, args.runs)
    print(f"API GET /api/v1/deployments/{ident}: median {baseline * 1000:.1f} ms (baseline)")
    ws = statistics.median(opened)
    print(
        f"monitor URL to steps on screen (websocket): median {ws:.2f} s, max {max(opened):.2f} s"
        f" ({ws / baseline:.0f}x the API's answer)"
    )
    worst = max(opened)
    if in_browser:
        page = statistics.median(in_browser)
        worst = max(worst, page)
        print(
            f"monitor URL to steps on screen (Chromium): median {page:.2f} s, "
            f"max {max(in_browser):.2f} s ({page / baseline:.0f}x the API's answer)"
        )
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
