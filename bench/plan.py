"""Planning at scale: parse, validate and plan 10,000 services, against baselines of the same run.

    python bench/plan.py            # prints figures and ratios; exit 1 when a target is missed

Targets (issue 3): plan time at most 2x graphlib's static_order on the same graph; parsing not
slower than PyYAML's C loader; 1,000 -> 10,000 services at most 12x; `runway plan --json` of the
10,000-service file in a few seconds and under 300 MB.
"""

from __future__ import annotations

import graphlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from runway.config import build_config, load
from runway.planner import make_plan, plan_source

ROOT = Path(__file__).parents[1]
WIDE = ROOT / "examples" / "wide.py"


def wide(layers: int, width: int = 100, fanin: int = 3) -> str:
    return subprocess.run(
        [sys.executable, str(WIDE), str(layers), str(width), str(fanin)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def best(run: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of `repeat` runs, in seconds: the least disturbed by a noisy machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    text = wide(100)
    small = wide(10)
    document = load(text)
    config = build_config(document)
    services = len(config.services)
    edges = sum(len(s.depends_on) for s in config.services.values())
    graph = {name: s.depends_on for name, s in config.services.items()}

    c_loader = best(lambda: yaml.load(text, Loader=yaml.CSafeLoader), 3)
    parse = best(lambda: load(text), 3)
    validate = best(lambda: build_config(document), 3)
    plan = best(lambda: make_plan(config))
    topo = best(lambda: list(graphlib.TopologicalSorter(graph).static_order()))

    # The whole path a user takes (`runway plan`, the server): parse, validate, plan.
    large_total = best(lambda: plan_source(text), 3)
    small_total = best(lambda: plan_source(small), 3)

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        file.write(text)
        file.flush()
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "runway", "plan", "--json", file.name],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        cli_seconds = time.perf_counter() - start
    cli_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    ratios = {
        "parse / PyYAML CSafeLoader": (parse / c_loader, 1.0),
        "plan / graphlib static_order": (plan / topo, 2.0),
        "10,000 / 1,000 services": (large_total / small_total, 12.0),
    }
    print(f"graph: {services} services, {edges} edges, {len(text) / 1024:.0f} KiB of YAML")
    print(f"PyYAML CSafeLoader        {c_loader * 1000:8.1f} ms   (baseline)")
    print(f"parse (runway.load)       {parse * 1000:8.1f} ms")
    print(f"validate                  {validate * 1000:8.1f} ms")
    print(f"graphlib static_order     {topo * 1000:8.1f} ms   (baseline)")
    print(f"plan                      {plan * 1000:8.1f} ms")
    print(f"all, 1,000 services       {small_total * 1000:8.1f} ms")
    print(f"all, 10,000 services      {large_total * 1000:8.1f} ms")
    small_size = len(small.splitlines())
    print(f"(the document grew {len(text.splitlines()) / small_size:.1f}x in lines: fan-in edges")
    print(" start at the second layer, so 10x the services is 11x the edges)")
    print(f"runway plan --json        {cli_seconds:8.2f} s, {cli_mb:.0f} MB max RSS")
    failed = False
    for name, (ratio, bound) in ratios.items():
        ok = ratio <= bound
        failed |= not ok
        print(f"{name:30} {ratio:6.2f}x  (target <= {bound:g}x) {'ok' if ok else 'MISSED'}")
    if cli_mb > 300 or cli_seconds > 5:
        failed = True
        print("runway plan --json: MISSED (target: a few seconds, under 300 MB)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
