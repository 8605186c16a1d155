"""The dashboard's start: time from launching the process to the first screen with data, and
the memory (RSS) of the app's process, beside a bare Textual app measured in the same run.

    python bench/tui.py                     # 5 runs each, 20 environments with a deployment
    python bench/tui.py --runs 10 --environments 50

What it does: starts `runway serve --kube sim` on SQLite in a temporary directory (127.0.0.1, a
free port), sets up the first admin, makes `--environments` environments each with a created
blog deployment, then launches, `--runs` times each, in a fresh process with Textual's headless
driver at 80x24:

- the baseline: a bare Textual app (a Header, a Static, a Footer), done once its first screen is
  painted;
- the dashboard: `make_dashboard(url, token)`, done once the environments screen shows its rows
  with their apps and latest deployments (the names alone come first, from the list).

Time runs from just before the process is launched (interpreter start and imports included) to
that moment; memory is the process's peak RSS (VmHWM) then. It prints the median and worst of
each and the ratios dashboard / baseline. Not part of the test suite: nothing here passes or
fails, except that a dashboard that never shows its data is an error (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[1]
BLOG = (ROOT / "examples" / "blog.yaml").read_bytes()
RUNWAY = str(Path(sys.executable).with_name("runway"))
PASSWORD = "bench password, long enough"
TOKEN_LINE = re.compile(r"One-time setup token \(valid until [^)]*\): (rw_[A-Za-z0-9_-]+)")
TIMEOUT = 60.0

CHILD = r"""
import os, sys, time
started = float(os.environ["BENCH_STARTED"])
kind = sys.argv[1]


def peak_rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def report(app):
    print(f"{time.time() - started:.4f} {peak_rss_kb()}", flush=True)
    app.exit()


if kind == "bare":
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Bare(App):
        def compose(self):
            yield Header()
            yield Static("hello")
            yield Footer()

        def on_mount(self):
            self.call_after_refresh(report, self)

    Bare().run(headless=True, size=(80, 24))
else:
    from textual.widgets import DataTable
    from runway.tui import make_dashboard
    from runway.tui.screens.environments import EnvironmentsScreen

    app = make_dashboard(sys.argv[2], sys.argv[3])

    def check():
        screen = app.screen
        if isinstance(screen, EnvironmentsScreen):
            table = screen.query_one("#environments", DataTable)
            # Data: the rows with their apps, not only the names the list gives first.
            if table.row_count and str(table.get_row_at(0)[1]) != "…":
                app.call_after_refresh(report, app)
                return
        app.set_timer(0.005, check)

    app.call_later(check)
    app.run(headless=True, size=(80, 24))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(directory: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = directory / "serve.log"
    env = {**os.environ, "HOME": str(directory / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("KUBECONFIG", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RUNWAY, "serve", "--port", str(port), "--data-dir", str(directory / "data"),
             "--kube", "sim"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + TIMEOUT
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, log
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server was not ready in time")
        time.sleep(0.05)


def prepare(url: str, log: Path, environments: int) -> str:
    """The admin's token, once every environment has a created blog deployment."""
    setup_token = TOKEN_LINE.findall(log.read_text())[0]
    made = httpx.post(
        f"{url}/api/v1/setup",
        json={"setup_token": setup_token, "username": "bench", "password": PASSWORD},
    )
    made.raise_for_status()
    token = str(made.json()["token"])
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        for index in range(environments):
            name = f"env-{index:03d}"
            client.post("/api/v1/environments", json={"name": name}).raise_for_status()
            client.post(
                f"/api/v1/environments/{name}/deployments",
                content=BLOG,
                headers={"Content-Type": "application/yaml"},
            ).raise_for_status()
    return token


def launch(kind: str, *args: str) -> tuple[float, int]:
    """(seconds from launch to the first screen with data, peak RSS in KiB) of one process."""
    env = {**os.environ, "BENCH_STARTED": repr(time.time())}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, *args],
        capture_output=True, text=True, env=env, timeout=TIMEOUT, cwd=ROOT,
    )  # fmt: skip
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) < 2:
        raise SystemExit(f"{kind} did not show its screen:\n{done.stdout}\n{done.stderr}")
    return float(lines[-2]), int(lines[-1])


def summary(name: str, figures: list[tuple[float, int]]) -> dict[str, float]:
    times = [f[0] for f in figures]
    rss = [f[1] / 1024 for f in figures]
    found = {
        "median_s": statistics.median(times),
        "worst_s": max(times),
        "median_rss_mib": statistics.median(rss),
        "worst_rss_mib": max(rss),
    }
    print(
        f"{name:<10} first screen with data: median {found['median_s'] * 1000:6.0f} ms, "
        f"worst {found['worst_s'] * 1000:6.0f} ms;  peak RSS: median "
        f"{found['median_rss_mib']:5.1f} MiB, worst {found['worst_rss_mib']:5.1f} MiB"
    )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--environments", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runway-bench-tui-") as folder:
        process, url, log = start_server(Path(folder))
        try:
            token = prepare(url, log, args.environments)
            bare, dashboard = [], []
            for _ in range(args.runs):  # interleaved: a machine's slow moment hits both
                bare.append(launch("bare"))
                dashboard.append(launch("dashboard", url, token))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"{args.runs} runs each; {args.environments} environments with a deployment each")
    base = summary("bare app", bare)
    dash = summary("dashboard", dashboard)
    print(
        f"ratios dashboard / bare: time {dash['median_s'] / base['median_s']:.2f}x, "
        f"RSS {dash['median_rss_mib'] / base['median_rss_mib']:.2f}x"
    )
    if args.json:
        print(json.dumps({"bare": base, "dashboard": dash}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
