"""`SimCluster`: a simulated cluster's state, and serving it with uvicorn in the running loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

import runway.simcluster.controllers.registry  # noqa: F401
from runway.simcluster.admin import RequestLog
from runway.simcluster.app import RecordedRequest, create_app
from runway.simcluster.bodies import Decoded
from runway.simcluster.catalogue import NAMESPACES, Catalogue
from runway.simcluster.controllers import CONTROLLERS, Behaviour, Controllers
from runway.simcluster.deletion import Lifecycle
from runway.simcluster.errors import SimClusterError
from runway.simcluster.faults import Faults
from runway.simcluster.kubeconfig import (
    Certificates,
    dump,
    kubeconfig,
    make_certificates,
    write_private,
)
from runway.simcluster.objects import Objects, WriteOptions
from runway.simcluster.schemas import SchemaRegistry
from runway.simcluster.store import Store
from runway.simcluster.volumes import VolumeContents, bootstrap_storage

log = logging.getLogger("runway.simcluster")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ListenError(SimClusterError):
    """The simulated cluster cannot listen where it was asked to (a port in use, say)."""


_SECOND: tuple[int, str] = (-1, "")
"""The second `utc_now` last wrote, and how: formatting it was 2% of a busy cluster's CPU."""


def utc_now() -> str:
    # The system clock's whole seconds, as datetime.now(UTC) floors them, written only when the
    # second changes (time.gmtime is UTC, as the datetime was).
    global _SECOND
    second = time.time_ns() // 1_000_000_000
    seen = _SECOND  # one read: another thread may write it meanwhile
    if seen[0] == second:
        return seen[1]
    text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    _SECOND = (second, text)
    return text


PREFIX = "runway-sim (simulated): "
# Set inside the simulated cluster's serving task (and so in every task and callback it starts):
# uvicorn's own log records from there are marked as the simulated cluster's, while another
# uvicorn server in the same process (runway's own) keeps its lines as they are.
_SERVING = contextvars.ContextVar("runway_simcluster_serving", default=False)


class _Simulated(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SERVING.get() and not str(record.msg).startswith(PREFIX):
            record.msg, record.args = PREFIX + record.getMessage(), None
        return True


_FILTER = _Simulated()


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds the cluster owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class SimCluster:
    """A simulated Kubernetes API server, in memory, for tests and demos. Nothing runs in it."""

    def __init__(
        self,
        *,
        namespace_delay: float = 0.5,
        history: int = 5000,
        bookmark_interval: float = 60.0,
        clock: Callable[[], str] = utc_now,
        admin: bool = False,
    ) -> None:
        self.catalogue = Catalogue()
        self.store = Store(history)
        self.objects = Objects(self.store, self.catalogue, SchemaRegistry.load(), clock)
        self.lifecycle = Lifecycle(self.objects, namespace_delay=namespace_delay)
        self.bookmark_interval = bookmark_interval
        self.requests: deque[RecordedRequest] = RequestLog(maxlen=10_000)
        self.behaviour = Behaviour()
        self.admin = admin  # serve the test-only /_sim admin API (and its injected faults)
        self.faults = Faults()
        self.volumes = VolumeContents()
        self.controllers = Controllers(self, CONTROLLERS)
        self.token: str | None = None
        self.address = "127.0.0.1:0"
        self._url: str | None = None
        self._certificates: Certificates | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._bootstrap()

    def _bootstrap(self) -> None:
        """What a fresh cluster has: its namespaces and the `kubernetes` Service."""
        system = WriteOptions(manager="kube-apiserver")
        for name in SYSTEM_NAMESPACES:
            self.objects.create(NAMESPACES, "", Decoded({"metadata": {"name": name}}), system)
        services = self.catalogue.find("", "v1", "services")
        assert services is not None
        service = {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver"}},
            "spec": {
                "clusterIP": "10.96.0.1",
                "ports": [{"name": "https", "port": 443, "targetPort": 6443}],
            },
        }
        self.objects.create(services, "default", Decoded(service), system)
        bootstrap_storage(self.objects)  # the default StorageClass and VolumeSnapshotClass
        # Like a real cluster's etcd after compaction: watches start from here.
        self.store.compact()

    @property
    def url(self) -> str:
        """Where the API is served (`http://127.0.0.1:PORT`); only once started."""
        if self._url is None:
            raise SimClusterError("the simulated cluster is not started")
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0, tls: bool = False) -> None:
        """Serve the API in the running event loop; port 0 picks a free port."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then
        # (without it every response waits ~40 ms for a delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            sock.close()
            raise ListenError(
                f"cannot listen on {host}:{port}: {error.strerror or error}"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        bound = sock.getsockname()[1]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
        shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
        self.address = f"{shown}:{bound}"
        config = uvicorn.Config(
            create_app(self, admin=self.admin),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        if tls:
            self._certificates = make_certificates(host)
            self.token = self._certificates.token
            self._load_tls(config, self._certificates)
        else:
            config.load()
        self._server = _Server(config)
        for name in ("uvicorn.error", "uvicorn.access"):
            if _FILTER not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(_FILTER)
        self._task = asyncio.create_task(self._serve(self._server, sock))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()
            raise ListenError(f"the simulated cluster did not start on {host}:{bound}")
        self._url = f"{'https' if tls else 'http'}://{self.address}"
        await self.controllers.start()
        log.info("runway-sim (simulated): Kubernetes API served at %s", self._url)

    @staticmethod
    async def _serve(server: _Server, sock: socket.socket) -> None:
        _SERVING.set(True)
        await server.serve(sockets=[sock])

    @staticmethod
    def _load_tls(config: uvicorn.Config, certificates: Certificates) -> None:
        # uvicorn reads certificates from files: write them to a private directory only for the
        # moment it loads them.
        with tempfile.TemporaryDirectory(prefix="runway-sim-") as directory:
            path = Path(directory) / "server.pem"
            write_private(path, certificates.server_pem)
            config.ssl_certfile = str(path)
            config.load()

    async def stop(self) -> None:
        """End every watch and stop serving."""
        await self.controllers.stop()
        self.lifecycle.stop()
        self.store.close_all()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None
        if self._url is not None:
            log.info("runway-sim (simulated): stopped serving %s", self._url)
        self._url = None

    def kubeconfig(self) -> dict[str, Any]:
        """The kubeconfig (as a dict) that points kubectl or kubernetes-asyncio here."""
        return kubeconfig(self.url, self._certificates)

    def write_kubeconfig(self, path: str | os.PathLike[str]) -> None:
        """Write the kubeconfig, readable by its owner only (it may hold the bearer token)."""
        write_private(path, dump(self.kubeconfig()))
