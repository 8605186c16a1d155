"""The serving process's garbage collector (runway.collector), tried in a process of its
own: settling it changes the whole process, which a test must not do to pytest's."""

from __future__ import annotations

import json
import subprocess
import sys

from runway import collector

PROBE = """
import gc, json
from runway import collector
made = [{"kept": [i]} for i in range(1000)]  # what a start makes and keeps
before = gc.get_freeze_count()
collector.settle()
print(json.dumps({
    "before": before,
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "threshold": gc.get_threshold(),
}))
"""


def test_settling_freezes_what_the_start_made_and_collects_less_often() -> None:
    found = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
        ).stdout
    )
    assert found["before"] == 0
    # Everything alive then is frozen (the probe's 2,000 containers among it): a full
    # collection no longer walks it.
    assert found["frozen"] >= 2000
    assert found["tracked"] < 100
    assert found["threshold"] == [collector.YOUNG, collector.MIDDLE, collector.OLD]
