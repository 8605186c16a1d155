"""What `runway serve` and `runway setup` do (loaded only when they run)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from runway import collector
from runway.auth import (
    AuthError,
    PasswordHasher,
    check_username,
    new_token,
    parse_networks,
    token_hash,
)
from runway.auth.passwords import check_password
from runway.cli import log_format, settings_flags
from runway.cli.common import Namespace, fail, read_passwords
from runway.deploy import RenderSettings
from runway.deploy.connection import Cluster, connect
from runway.deploy.environment_objects import EnvironmentSettings
from runway.deploy.errors import ClusterUnavailable
from runway.executor.executor import instance_name
from runway.executor.run import Limits
from runway.http import Settings, create_app
from runway.http.access import AccessLog
from runway.http.installation import effective
from runway.http.settings import SETUP_TOKEN_LIFETIME
from runway.simcluster import SimCluster
from runway.store import Store, StoreError, sqlite_url

if TYPE_CHECKING:
    from runway.ssh import SshServer

log = logging.getLogger("runway")

GRACE = 5
"""Seconds a stopping server waits for requests in flight before it ends them."""


def database_url(args: Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    return sqlite_url(Path(args.data_dir))


def run_serve(args: Namespace) -> int:
    log_format.configure(getattr(args, "log_format", None) or "text")
    try:
        trusted = parse_networks(args.trusted_proxies or "")
    except ValueError as error:
        return fail(f"--trusted-proxies: {error}")
    try:
        limits = lease_limits(args)
        flags = settings_flags.given(args)
    except ValueError as error:
        return fail(str(error))
    try:
        listening = listen(args.host, args.port)
    except OSError as error:
        return fail(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    port = listening.getsockname()[1]
    ssh_listening = None
    if getattr(args, "ssh_port", None) is not None:
        try:
            ssh_listening = listen(args.host, args.ssh_port)
        except OSError as error:
            listening.close()
            return fail(f"cannot listen on {args.host}:{args.ssh_port}: {error.strerror or error}")
    public_url = args.public_url or f"http://{args.host}:{port}"
    settings = Settings(
        database_url=database_url(args),
        public_url=public_url,
        trusted_proxies=trusted,
        limits=limits,
        instance=args.instance_name or instance_name(),
        metrics_token=getattr(args, "metrics_token", None),
        environments=environment_settings(args),
        render=render_settings(args),
    )
    try:
        return asyncio.run(
            serve(
                settings,
                listening,
                args.kube,
                Path(args.data_dir),
                ssh_listening=ssh_listening,
                flags=flags,
            )
        )
    except StoreError as error:
        return fail(str(error))
    finally:
        listening.close()
        if ssh_listening is not None:
            ssh_listening.close()


def environment_settings(args: Namespace) -> EnvironmentSettings:
    """Whose ServiceAccount, which tenant role and which ingress controller's namespace every
    environment's guards name (`--namespace`, `--tenant-role`, `--ingress-namespace`)."""
    defaults = EnvironmentSettings()
    return replace(
        defaults,
        service_account_namespace=getattr(args, "namespace", None)
        or defaults.service_account_namespace,
        tenant_role=getattr(args, "tenant_role", None) or defaults.tenant_role,
        ingress_namespace=getattr(args, "ingress_namespace", None) or defaults.ingress_namespace,
    )


def render_settings(args: Namespace) -> RenderSettings:
    """How apps are rendered and backed up, as far as the command line says
    (`--storage-class`, `--snapshot-class`); the stored installation settings add the
    ingress class and TLS (runway.http.installation)."""
    return RenderSettings(
        storage_class=getattr(args, "storage_class", None) or None,
        snapshot_class=getattr(args, "snapshot_class", None) or None,
    )


def lease_limits(args: Namespace) -> Limits:
    """The executor's limits with the lease timings given (`--lease-ttl`, `--lease-renew`,
    `--lease-scan`; the defaults of Limits otherwise). ValueError unless a lease is renewed at
    least twice within its time to live: one late renewal must not lose it (a run stops acting
    on the cluster a little before its lease lapses, not only once it did)."""
    given = {
        name: getattr(args, name)
        for name in ("lease_ttl", "lease_renew", "lease_scan")
        if getattr(args, name, None) is not None
    }
    limits = replace(Limits(), **given)
    if limits.lease_renew * 2 > limits.lease_ttl:
        raise ValueError(
            f"--lease-renew ({limits.lease_renew:g}) must be at most half of --lease-ttl "
            f"({limits.lease_ttl:g}), so that a lease outlives one late renewal"
        )
    return limits


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so that a port in use is one clear line (uvicorn would
    log a traceback-like message and exit 3). IPPROTO_TCP explicitly: asyncio turns on
    TCP_NODELAY for accepted connections only then."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except OSError:
        listening.close()
        raise
    listening.setblocking(False)
    return listening


async def serve(
    settings: Settings,
    listening: socket.socket,
    kube: str,
    data: Path,
    *,
    sim_ready_delay: float | None = None,
    started: Callable[[], Awaitable[bool]] | None = None,
    ssh_listening: socket.socket | None = None,
    flags: Mapping[str, Any] | None = None,
) -> int:
    """Serve on `listening` until SIGINT or SIGTERM; the exit status. `sim_ready_delay` sets
    the simulated cluster's readiness delay (`--kube sim`); `started` runs once the server
    accepts connections (`runway demo` fills it then), and when it answers False the server
    stops and the status is 1. On SQLite the server holds the database file for itself (a
    second server on it is refused: DatabaseInUse); on Postgres any number may serve. With
    `ssh_listening`, the dashboard is served over SSH on it too (runway.ssh). `flags`: the
    installation settings the command line gave (runway.cli.settings_flags), stored when
    they changed since the last start; the stored settings apply from the start."""
    store = await Store.open(settings.database_url, serving=True)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        cluster, problem = await _cluster(
            kube, data, stack, sim_ready_delay, instance=settings.instance
        )
        settings = await _installation(store, settings, flags or {})
        await announce_setup_token(store, settings)
        app = create_app(settings, store, cluster=cluster, cluster_problem=problem)
        config = uvicorn.Config(
            AccessLog(app),
            log_level="info",
            log_config=log_format.uvicorn_log_config(),
            lifespan="on",
            access_log=False,  # AccessLog instead: it keeps invite secrets out of the log
            # Streams still open then (followed logs) are ended: a stop takes seconds.
            timeout_graceful_shutdown=GRACE,
        )
        ssh = await _serve_ssh(store, settings, ssh_listening, stack)

        def stopping() -> None:
            store.events_hub.close()
            if ssh is not None:
                ssh.stop()  # its apps would only wait for the API that is going away

        server = _Server(config, on_exit=stopping)
        collector.settle()
        log.info(
            "runway serving %s (database: %s, instance %s)",
            settings.public_url,
            store.backend,
            settings.instance,
        )
        serving = asyncio.create_task(server.serve(sockets=[listening]))
        try:
            kept = started is None or await _after_start(server, serving, started)
        except BaseException:
            server.should_exit = True  # the store closes next: the server must be done first
            await asyncio.wait([serving])
            raise
        await serving
        # uvicorn exits on its own when it cannot bind (it says why in the log): exit 1 then,
        # not uvicorn's own status.
        return 0 if server.started and kept else 1
    raise AssertionError("unreachable")  # pragma: no cover


async def _serve_ssh(
    store: Store,
    settings: Settings,
    listening: socket.socket | None,
    stack: contextlib.AsyncExitStack,
) -> SshServer | None:
    """The dashboard over SSH on `listening` (None: not asked for); closed before the store."""
    if listening is None:
        return None
    from runway.ssh import SshServer  # asyncssh loads only when SSH is served

    ssh = SshServer(
        store, settings.public_url, login_limits=settings.login_limits, hasher=settings.hasher
    )
    await ssh.start(listening)
    stack.push_async_callback(ssh.close)
    host, port = listening.getsockname()[:2]
    log.info("dashboard over SSH on %s:%d (host key %s)", host, port, ssh.fingerprint)
    return ssh


async def _installation(store: Store, settings: Settings, flags: Mapping[str, Any]) -> Settings:
    """Store the flags that changed since a server last started with them (the last change
    wins: runway.http.installation), then the settings as stored."""
    changed = await store.settings.seed(flags)
    for name in changed:
        log.info("installation setting %s taken from the command line", name)
    return effective(settings, await store.settings.read())


async def _after_start(
    server: uvicorn.Server, serving: asyncio.Task[None], started: Callable[[], Awaitable[bool]]
) -> bool:
    """Once the server accepts connections, `started`'s answer (False stops the server); True
    when the server stopped before it started (its own status says so)."""
    while not server.started:
        if serving.done():
            return True
        await asyncio.sleep(0.02)
    if await started():
        return True
    server.should_exit = True
    return False


async def _cluster(
    kube: str,
    data: Path,
    stack: contextlib.AsyncExitStack,
    sim_ready_delay: float | None = None,
    *,
    instance: str | None = None,
) -> tuple[Cluster | None, str | None]:
    """The cluster deployments go to, or None and why: the server serves without one. Its
    requests say which `instance` sends them (the User-Agent)."""
    mode = kube
    if kube == "sim":
        simulated = SimCluster()
        if sim_ready_delay is not None:
            simulated.behaviour.ready_delay = sim_ready_delay
        await simulated.start()
        stack.push_async_callback(simulated.stop)
        data.mkdir(parents=True, exist_ok=True)
        mode = str(data / "sim.kubeconfig")
        simulated.write_kubeconfig(mode)
    try:
        cluster = await connect(mode, instance=instance)
    except ClusterUnavailable as error:
        problem = f"{error}; deployments cannot start (try --kube sim for the simulated cluster)"
        log.warning("no cluster: %s", problem)
        return None, problem
    stack.push_async_callback(cluster.close)
    if not await cluster.reachable():
        log.warning("the cluster at %s does not answer yet", cluster.url)
    kind = "simulated cluster" if cluster.simulated else "cluster"
    log.info("deployments go to the %s at %s", kind, cluster.url)
    return cluster, None


class _Server(uvicorn.Server):
    """uvicorn, except that SIGTERM and SIGINT end `serve()` and return: uvicorn's own handling
    re-raises the signal once it has shut down, which kills the process before runway closes
    its database. `on_exit` is called at once on either: event streams end then, instead of
    keeping uvicorn waiting for their connections to close."""

    def __init__(self, config: uvicorn.Config, *, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for number in signals:
            loop.add_signal_handler(number, self.handle_exit, number, None)
        try:
            yield
        finally:
            for number in signals:
                loop.remove_signal_handler(number)


async def announce_setup_token(store: Store, settings: Settings) -> None:
    """While nobody can log in, make sure one setup token exists, and say how to use it. The
    token is the one secret runway writes to its log, by design."""
    if await store.users.count():
        return
    now = datetime.now(UTC)
    token = new_token()
    expires = now + settings.setup_token_lifetime
    if await store.credentials.put_setup_token(token_hash(token), now, expires, replace=False):
        log.warning(
            "runway has no user yet. One-time setup token (valid until %s): %s\n"
            "  create the first admin: POST %s/api/v1/setup "
            '{"setup_token": "...", "username": "...", "password": "..."}\n'
            "  or on this machine: runway setup --admin NAME",
            expires.isoformat(timespec="minutes"),
            token,
            settings.public_url.rstrip("/"),
        )
        return
    log.warning(
        "runway has no user yet; another instance made the setup token and printed it. "
        "`runway setup --new-token` makes a new one."
    )


def run_setup(args: Namespace) -> int:
    try:
        return asyncio.run(_setup(args))
    except StoreError as error:
        return fail(str(error))
    except (ValueError, AuthError) as error:
        return fail(str(error))


async def _setup(args: Namespace) -> int:
    password = ""
    if args.admin:
        check_username(args.admin)
        if args.password_stdin:
            (password,) = read_passwords(1, True, [])
        else:
            password, again = read_passwords(2, False, ["Password: ", "Again: "])
            if password != again:
                return fail("the two passwords differ")
        check_password(password)
    store = await Store.open(database_url(args))
    try:
        if await store.users.count():
            return fail("runway is set up already (a user exists); log in instead")
        if args.new_token:
            now = datetime.now(UTC)
            token = new_token()
            expires = now + SETUP_TOKEN_LIFETIME
            await store.credentials.put_setup_token(token_hash(token), now, expires, replace=True)
            print(f"setup token (valid until {expires.isoformat(timespec='minutes')}): {token}")
            return 0
        hashed = PasswordHasher().hash(password)
        user = await store.users.create_first_admin_directly(args.admin, hashed, datetime.now(UTC))
        if user is None:
            return fail("runway is set up already (a user exists); log in instead")
        print(f"admin '{user.name}' created; log in with: runway login URL --user {user.name}")
        return 0
    finally:
        await store.close()
