"""`runway serve --ssh-port` in a subprocess (no cluster: the dashboard's list needs none), its
first admin `ann` with an SSH key; the SSH server in the test's own process over a SQLite store
(`here`), optionally running a small stand-in for the app (`light_app`); and an asyncssh client
that reads what the dashboard draws."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest

from runway.auth import LoginLimits, PasswordHasher
from runway.auth.keys import parse_public_key
from runway.ssh import SshServer, terminal
from runway.store import Role, Store, sqlite_url
from tests.test_serve import PASSWORD, RUNWAY, TOKEN_LINE, _free_port

SERVER_SECRET = "RUNWAY_TEST_SSH_SECRET"
"""In the server's environment: no dashboard process may see it."""
_ESCAPES = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


HASHER = PasswordHasher.cheap()
LIMITS = LoginLimits(per_user=3, user_pause=timedelta(minutes=5))
LIGHT_APP = "import os, time; print('light app in', os.getcwd(), flush=True); time.sleep(600)"
"""What `light_app` runs instead of `runway tui`: it starts in a few milliseconds, not seconds,
and goes at SIGTERM as the app does."""


@dataclass
class Here:
    store: Store
    server: SshServer
    port: int
    key: asyncssh.SSHKey
    """`ann`'s (a member, password PASSWORD)."""


def bound() -> socket.socket:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    listening.setblocking(False)
    return listening


async def start(store: Store, **options: Any) -> tuple[SshServer, int]:
    """An SshServer on a free port, with cheap hashing and the test's login limits; its
    dashboards' API (port 9) does not answer."""
    server = SshServer(store, "http://127.0.0.1:9", login_limits=LIMITS, hasher=HASHER, **options)
    listening = bound()
    await server.start(listening)
    return server, listening.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, **options: Any) -> AsyncIterator[Here]:
    """The SSH server (SshServer's `options`) of a store whose member `ann` has a key."""
    store = await Store.open(sqlite_url(tmp_path))
    ann = await store.users.create("ann", HASHER.hash(PASSWORD), Role.MEMBER)
    key = asyncssh.generate_private_key("ssh-ed25519")
    text, fingerprint = parse_public_key(bytes(key.export_public_key()).decode())
    await store.users.add_key(ann.id, "laptop", text, fingerprint)
    server, port = await start(store, **options)
    try:
        yield Here(store, server, port, key)
    finally:
        await server.close()
        await store.close()


@pytest.fixture
async def here(tmp_path: Path) -> AsyncIterator[Here]:
    async with serving(tmp_path) as found:
        yield found


@pytest.fixture
def light_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions run LIGHT_APP, not `runway tui`: for stories about the session around the app
    (its directory, its token, its end), not the app itself. Started the same way (its own
    session, the PTY its controlling terminal), with the same environment."""
    argv = [sys.executable, "-c", terminal._START, "-c", LIGHT_APP]
    monkeypatch.setattr(terminal, "command", lambda api_url: argv)


@dataclass
class Server:
    """`runway serve --ssh-port` on fixed ports and data dir: stop it and start it again."""

    base: Path
    port: int = field(default_factory=_free_port)
    ssh_port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    """One client for every request: each `httpx.get` makes its own, at some 50 ms of CPU
    (an SSL context), which polling for readiness would take from the server starting."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.base / "serve.log"

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(self.base / "home")}
        env.pop("KUBECONFIG", None)
        env[SERVER_SECRET] = "do-not-leak"
        env["RUNWAY_SSH_PORT"] = str(self.ssh_port)  # the variable, as a deployment sets it
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [RUNWAY, "serve", "--port", str(self.port), "--data-dir", str(self.base / "data")],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self._ready():
            assert time.monotonic() < deadline, f"not ready in time:\n{self.output()}"
            time.sleep(0.05)

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.output()
        try:
            return self.http.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int:
        assert self.process is not None
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def dashboards(self) -> list[int]:
        """The pids of the dashboard processes this server runs now."""
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdecimal():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and b"tui" in command:
                found.append(int(entry.name))
        return found


@dataclass
class World:
    server: Server
    token: str
    key: asyncssh.SSHKey
    """`ann`'s private key; its public half is registered."""

    def call(self, method: str, path: str, token: str | None = None, **options: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        answer = self.server.http.request(
            method, f"{self.server.url}{path}", headers=headers, **options
        )
        assert answer.status_code < 400, answer.text
        return answer.json() if answer.content else None

    def add_key(self, token: str) -> asyncssh.SSHKey:
        key = asyncssh.generate_private_key("ssh-ed25519")
        public = bytes(key.export_public_key()).decode()
        self.call(
            "POST", "/api/v1/users/me/keys", token, json={"name": "laptop", "public_key": public}
        )
        return key


def environ(pid: int) -> dict[str, str]:
    """The environment a process was started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if item)
    return {name.decode(): value.decode() for name, value in pairs}


def set_up(server: Server) -> World:
    """`ann`, the first admin, with an SSH key; an environment of hers to see."""
    found = TOKEN_LINE.findall(server.output())
    assert found, server.output()
    made = server.http.post(
        f"{server.url}/api/v1/setup",
        json={"setup_token": found[-1], "username": "ann", "password": PASSWORD},
    )
    assert made.status_code == 201, made.text
    world = World(server, made.json()["token"], asyncssh.generate_private_key("ssh-ed25519"))
    world.key = world.add_key(world.token)
    world.call("POST", "/api/v1/environments", json={"name": "orchard"})
    return world


class Screen(asyncssh.SSHClientSession[bytes]):
    """What the server sends, kept; `text()` without the terminal's escape sequences."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def text(self) -> str:
        return _ESCAPES.sub(b" ", bytes(self.received)).decode(errors="replace")

    async def wait_for(self, what: str | bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not (what in self.text() if isinstance(what, str) else what in self.received):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what!r}; received:\n{self.text()}")
            await asyncio.sleep(0.05)


async def connect(port: int, username: str, **options: Any) -> asyncssh.SSHClientConnection:
    """A client that trusts any host key and uses nothing of this machine's (no agent, no
    ~/.ssh keys): only what `options` gives."""
    options.setdefault("client_keys", None)
    return await asyncssh.connect(
        "127.0.0.1", port, username=username, known_hosts=None, agent_path=None,
        config=None, **options,
    )  # fmt: skip


async def open_dashboard(
    connection: asyncssh.SSHClientConnection, size: tuple[int, int] = (80, 24)
) -> tuple[asyncssh.SSHClientChannel[bytes], Screen]:
    channel, screen = await connection.create_session(
        Screen, term_type="xterm-256color", term_size=size, encoding=None
    )
    return channel, screen
