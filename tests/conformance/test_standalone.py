"""`runway sim-cluster` as a person runs it: what it prints, what it writes, how it stops."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time

import yaml


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runway", "sim-cluster", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path, process) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no kubeconfig written"
        time.sleep(0.02)


def test_it_prints_where_it_serves_writes_a_private_kubeconfig_and_stops_cleanly(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    process = _start("--port", "0", "--kubeconfig", str(kubeconfig), "--tls")
    try:
        _wait_for(kubeconfig, process)
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["current-context"] == "runway-sim"
        [cluster] = config["clusters"]
        assert cluster["name"] == "runway-sim"
        assert cluster["cluster"]["server"].startswith("https://127.0.0.1:")
        assert cluster["cluster"]["certificate-authority-data"]
        assert config["users"][0]["user"]["token"]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert out.splitlines() == [
        f"runway-sim: simulated Kubernetes API at {cluster['cluster']['server']}",
        f"runway-sim: kubeconfig written to {kubeconfig}",
    ]
    assert err.strip(), "it logs"
    assert all("runway-sim (simulated)" in line for line in err.splitlines())


def test_a_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "runway", "sim-cluster", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"runway sim-cluster: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
