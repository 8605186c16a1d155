"""What the browser dashboard's tests share: a real `runway serve --kube sim` (the dashboard's
app processes are real children of it), people logged in through the login page, and the
websocket a tab opens, with the terminal text it receives."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from runway.http.ui.processes import WAIT_FLAG
from tests.test_serve import PASSWORD
from tests.tui.world import World

_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


def screen_text(received: bytes) -> str:
    """The text in terminal bytes, escape sequences dropped (words a person would read)."""
    return _ESCAPES.sub(b"", received).decode("utf-8", "replace")


@dataclass
class Person:
    """Someone with a browser: their cookies, and the Origin their browser sends."""

    url: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, headers={"Origin": self.url}, timeout=30)

    def log_in(self, username: str = "ann", password: str = PASSWORD) -> httpx.Response:
        return self.client.post("/ui/login", data={"username": username, "password": password})

    def log_out(self) -> httpx.Response:
        return self.client.post("/ui/logout")

    @property
    def cookie(self) -> str:
        return str(self.client.cookies.get("runway_session", ""))

    @contextmanager
    def tab(
        self, path: str = "/ui/ws", *, origin: str | None = "same", cookie: str | None = None
    ) -> Iterator[Tab]:
        """The websocket a dashboard page opens (`origin`: "same", another, or None)."""
        sent = self.cookie if cookie is None else cookie
        headers = {"Cookie": f"runway_session={sent}"} if sent else {}
        with connect(
            f"{self.url.replace('http', 'ws', 1)}{path}?width=120&height=40",
            origin=self.url if origin == "same" else origin,  # type: ignore[arg-type]
            additional_headers=headers,
            open_timeout=10,
        ) as websocket:
            yield Tab(websocket)


@dataclass
class Tab:
    websocket: ClientConnection
    received: bytes = b""
    closed: bool = False

    def text(self) -> str:
        return screen_text(self.received)

    def read_until(self, *words: str, timeout: float = 30) -> str:
        """The screen's text once every word is on it (or the tab closed: the assert says)."""
        deadline = time.monotonic() + timeout
        while not all(word in self.text() for word in words):
            assert time.monotonic() < deadline, f"{words} not on screen: {self.text()[-2000:]}"
            assert not self.closed, f"closed before {words}: {self.text()[-2000:]}"
            self._receive(min(1.0, deadline - time.monotonic()))
        return self.text()

    def wait_closed(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not self.closed:
            assert time.monotonic() < deadline, "the tab's websocket stayed open"
            self._receive(1.0)

    def send(self, *envelope: object) -> None:
        self.websocket.send(json.dumps(list(envelope)))

    def _receive(self, timeout: float) -> None:
        try:
            message = self.websocket.recv(timeout=max(timeout, 0.01))
        except TimeoutError:
            return
        except ConnectionClosed:
            self.closed = True
            return
        if isinstance(message, bytes):
            self.received += message


def started_pids(world: World) -> list[int]:
    """The dashboard processes the server has started, from its log (oldest first)."""
    return [int(p) for p in re.findall(r"dashboard process (\d+) started", world.server.output())]


def add_member(world: World, name: str) -> None:
    world.call("POST", "/api/v1/users", json={"username": name, "password": PASSWORD})


def children(world: World) -> list[int]:
    """The server's child processes that are dashboard processes (waiting or assigned)."""
    assert world.server.process is not None
    parent = world.server.process.pid
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z" and WAIT_FLAG.encode() in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def waiting_pids(world: World) -> list[int]:
    """The pool's children that are ready: blocked reading their assignment from stdin."""
    assigned = set(started_pids(world))
    return [pid for pid in children(world) if pid not in assigned and _reading_stdin(pid)]


def _reading_stdin(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/syscall").read_text().startswith("0 0x0 ")  # read(0, …)
    except OSError:
        return False
