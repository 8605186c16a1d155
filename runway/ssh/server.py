"""The SSH server `runway serve --ssh-port` runs in the API's process: asyncssh on a socket the
caller bound, with the installation's one host key, logins by public key or by password, and
nothing but the dashboard (no commands, subsystems, or forwarding of any kind)."""

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
LOGIN_TIMEOUT = 60
"""Seconds a connection has to log in."""


async def host_key(store: Store) -> asyncssh.SSHKey:
    """The installation's host key, made (Ed25519) by the first server that needed one."""

    def make() -> str:
        made = asyncssh.generate_private_key("ssh-ed25519")
        return bytes(made.export_private_key()).decode()

    return asyncssh.import_private_key(await ssh_host_key(store, make))


class SshServer:
    """Start it on a bound socket with `start`; `stop` stops it taking connections and ends
    every session (their apps killed, their tokens revoked); `close` also waits until they are,
    then closes the connections."""

    def __init__(
        self,
        store: Store,
        api_url: str,
        *,
        limits: Limits | None = None,
        login_limits: LoginLimits | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
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
            login_timeout=LOGIN_TIMEOUT,
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

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._server._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # nobody gets in without a key or a password

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return await self._server._logins.key_matches(username, key.get_fingerprint("sha256"))

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        peer = self._conn.get_extra_info("peername") if self._conn is not None else None
        address = str(peer[0]) if peer else "unknown"
        return await self._server._logins.password_matches(username, password, address)

    async def session_requested(self) -> Any:
        """The dashboard's session, for the user who logged in (unless disabled meanwhile)."""
        name = self._conn.get_extra_info("username") if self._conn is not None else None
        user = await self._server._logins.user(str(name)) if name else None
        if user is None or self._server._stopping:
            return False
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
