"""The simulated cluster in a process of its own (`runway sim-cluster --admin`), for tests and
benchmarks that must not share its event loop or its CPU with runway: started, waited for until
it serves, and stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

START_TIMEOUT = 30.0


@dataclass(frozen=True)
class SimProcess:
    """A simulated cluster serving in a process of its own: its API and admin API (`/_sim`)
    at `url`, the kubeconfig that points at it, its process id and its output."""

    url: str
    kubeconfig: Path
    pid: int
    log: Path

    def cpu(self) -> float:
        """The process's CPU seconds so far (user + system), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def run_simulator(directory: Path, *extra: str) -> Iterator[SimProcess]:
    """Run `runway sim-cluster --admin` (with `extra` arguments) until the block ends; yields it
    once it serves. The kubeconfig it writes (atomically) says it is up and where."""
    kubeconfig = directory / "kubeconfig"
    log = directory / "sim.log"
    command = [sys.executable, "-m", "runway", "sim-cluster", "--admin", "--port", "0"]
    command += ["--kubeconfig", str(kubeconfig), *extra]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not kubeconfig.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulated cluster did not start: {log.read_text()}")
            time.sleep(0.02)
        document = yaml.safe_load(kubeconfig.read_text())
        url = str(document["clusters"][0]["cluster"]["server"])
        yield SimProcess(url, kubeconfig, process.pid, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
