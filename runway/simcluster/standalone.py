"""`runway sim-cluster`: serve a simulated cluster in its own process until interrupted."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import tempfile
from pathlib import Path

from runway import collector
from runway.simcluster.cluster import ListenError, SimCluster

_PREFIX = "runway-sim (simulated): "


class _Simulated(logging.Filter):
    """Every log line of this process says it comes from the simulated cluster."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(_PREFIX):
            record.msg, record.args = _PREFIX + message, None
        return True


def run(*, host: str, port: int, kubeconfig: str | None, tls: bool, admin: bool = False) -> int:
    """Serve until SIGINT or SIGTERM; 0 when stopped, 1 when it cannot start."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(_Simulated())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        return asyncio.run(_serve(host, port, kubeconfig, tls, admin))
    except ListenError as error:
        print(f"runway sim-cluster: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"runway sim-cluster: cannot write the kubeconfig: {error}", file=sys.stderr)
        return 1


async def _serve(host: str, port: int, kubeconfig: str | None, tls: bool, admin: bool) -> int:
    cluster = SimCluster(admin=admin)
    await cluster.start(host, port, tls)
    # What the start made (modules, the schemas, the bootstrap objects) stays for the life of
    # the process: frozen, as `runway serve` freezes its own. CPython's defaults had the
    # simulator collect some 500 times per 300 Deployments applied, about a seventh of its CPU,
    # walking stored objects that are never garbage.
    collector.settle()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    with tempfile.TemporaryDirectory(prefix="runway-sim-") as directory:
        path = Path(kubeconfig) if kubeconfig else Path(directory) / "kubeconfig"
        try:
            cluster.write_kubeconfig(path)
            print(f"runway-sim: simulated Kubernetes API at {cluster.url}", flush=True)
            print(f"runway-sim: kubeconfig written to {path}", flush=True)
            await stopping.wait()
        finally:
            await cluster.stop()
    return 0
