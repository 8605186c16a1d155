"""The SSH server `runway serve --ssh-port` runs in the API's process: asyncssh on a socket the
caller bound, with the installation's one host key, logins by public key or by password, and
nothing but the dashboard (no commands, subsystems, or forwarding of any kind). A connection is
dropped when it fails to log in too often, logs in but opens no session, or stops answering."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import asyncssh

from runway.auth import LoginLimits, PasswordHasher
from runway.ssh.logins import Logins
from runway.ssh.session import DashboardSession, Limits, Running, Shared
from runway.store import Store
from runway.store.ssh_host_keys import ssh_host_key

log = logging.getLogger("runway.ssh")

CLOSE_WAIT = 5.0
"""Seconds a stopping server waits for its sessions to end their apps and revoke their tokens."""
LOGIN_TIMEOUT = 60.0
"""Seconds a connection has to log in."""
MAX_AUTH_TRIES = 6
"""Failed logins (keys offered, passwords tried) one connection may make before it is dropped,
as OpenSSH's MaxAuthTries: each password tried costs the database two writes."""
SESSION_WAIT = 60.0
"""Seconds a logged-in connection may go without opening its session."""
KEEPALIVE_INTERVAL = 30.0
"""Seconds of silence from a client before the server asks whether it is still there."""
KEEPALIVE_COUNT_MAX = 3
"""Unanswered asks before the connection is dropped: a client gone without a word (a closed
laptop, a dropped network) frees its dashboard and its place in the limits within two minutes,
not hours later when TCP gives up."""


async def host_key(store: Store) -> asyncssh.SSHKey:
    """The installation's host key, made (Ed25519) by the first server that needed one."""

    def make() -> str:
        made = asyncssh.generate_private_key("ssh-ed25519")
        return bytes(made.export_private_key()).decode()

    return asyncssh.import_private_key(await ssh_host_key(store, make))


class SshServer:
    """Start it on a bound socket with `start`; `stop` stops it taking connections and ends
    every session (their apps killed, their tokens revoked); `close` also waits until they are,
    then closes the connections. The timeouts and MAX_AUTH_TRIES are parameters for tests, which
    cannot wait minutes."""

    def __init__(
        self,
        store: Store,
        api_url: str,
        *,
        limits: Limits | None = None,
        login_limits: LoginLimits | None = None,
        hasher: PasswordHasher | None = None,
        login_timeout: float = LOGIN_TIMEOUT,
        max_auth_tries: int = MAX_AUTH_TRIES,
        session_wait: float = SESSION_WAIT,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        keepalive_count_max: int = KEEPALIVE_COUNT_MAX,
    ) -> None:
        self.login_timeout = login_timeout
        self.max_auth_tries = max_auth_tries
        self.session_wait = session_wait
        self.keepalive_interval = keepalive_interval
        self.keepalive_count_max = keepalive_count_max
        self._shared = Shared(store, api_url, Running(limits or Limits()))
        self._logins = Logins(store, login_limits or LoginLimits(), hasher or PasswordHasher())
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._stopping = False
        self.fingerprint = ""
        """The host key's SHA256 fingerprint (people compare it with what ssh shows)."""

    async def start(self, listening: socket.socket) -> None:
        key = await host_key(self._shared.store)
        self.fingerprint = key.get_fingerprint("sha256")
        self._acceptor = await asyncssh.create_server(
            lambda: _Connection(self),
            sock=listening,
            server_host_keys=[key],
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            gss_host=None,
            login_timeout=self.login_timeout,
            keepalive_interval=self.keepalive_interval,
            keepalive_count_max=self.keepalive_count_max,
        )

    def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        self._stopping = True
        for session in list(self._shared.sessions):
            session.end()

    async def close(self) -> None:
        self.stop()
        tasks = [s.task for s in self._shared.sessions if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT)
        for connection in list(self._connections):  # closing one may drop it from the set
            connection.close()
        if self._acceptor is not None:
            await self._acceptor.wait_closed()


class _Connection(asyncssh.SSHServer):
    """One client's connection: how it may log in, and what it may open."""

    def __init__(self, server: SshServer) -> None:
        self._server = server
        self._conn: asyncssh.SSHServerConnection | None = None
        self._failures = 0
        self._no_session: asyncio.TimerHandle | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._no_session is not None:
            self._no_session.cancel()
        if self._conn is not None:
            self._server._connections.discard(self._conn)

    def auth_completed(self) -> None:
        # A client that logs in and then does nothing would hold the connection until it goes.
        wait = self._server.session_wait
        self._no_session = asyncio.get_running_loop().call_later(wait, self._close_idle)

    def _close_idle(self) -> None:
        if self._conn is not None:
            log.info("ssh: closed a connection from %s that opened no session", self._address())
            self._conn.close()

    def _address(self) -> str:
        peer = self._conn.get_extra_info("peername") if self._conn is not None else None
        return str(peer[0]) if peer else "unknown"

    def _tries_left(self) -> bool:
        return self._failures < self._server.max_auth_tries

    def _checked(self, valid: bool) -> bool:
        """`valid`, after counting a failure: the last one allowed drops the connection (once
        the client is told, hence call_soon)."""
        if valid:
            return True
        self._failures += 1
        if not self._tries_left() and self._conn is not None:
            log.info("ssh: %d failed logins from %s on one connection: dropped",
                     self._failures, self._address())  # fmt: skip
            asyncio.get_running_loop().call_soon(
                self._conn.disconnect,
                asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                "too many authentication failures",
            )
        return False

    def begin_auth(self, username: str) -> bool:
        return True  # nobody gets in without a key or a password

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if not self._tries_left():
            return False
        fingerprint = key.get_fingerprint("sha256")
        return self._checked(await self._server._logins.key_matches(username, fingerprint))

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        if not self._tries_left():
            return False
        logins, address = self._server._logins, self._address()
        return self._checked(await logins.password_matches(username, password, address))

    async def session_requested(self) -> Any:
        """The dashboard's session, for the user who logged in (unless disabled meanwhile)."""
        name = self._conn.get_extra_info("username") if self._conn is not None else None
        user = await self._server._logins.user(str(name)) if name else None
        if user is None or self._server._stopping:
            return False
        if self._no_session is not None:
            self._no_session.cancel()
        return DashboardSession(self._server._shared, user)

    # Every kind of forwarding is refused: the dashboard is all this server offers.

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                             orig_port: int) -> bool:  # fmt: skip
        return False

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        return False

    def unix_server_requested(self, listen_path: str) -> bool:
        return False

    def tun_requested(self, unit: int | None) -> bool:
        return False

    def tap_requested(self, unit: int | None) -> bool:
        return False
