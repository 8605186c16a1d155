"""The dashboard over SSH, as a person with `ssh` meets it: their key (or password) opens their
dashboard in a terminal of their size; nothing else gets through."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import pytest

from runway.cli import main
from tests.ssh.conftest import (
    SERVER_SECRET,
    Server,
    World,
    connect,
    environ,
    open_dashboard,
    set_up,
)

pytestmark = pytest.mark.anyio

CHILD_VARIABLES = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "RUNWAY_TOKEN",
                   "RUNWAY_USER", "RUNWAY_REMOTE_TERMINAL"}  # fmt: skip


def me(world: World, token: str) -> int:
    return world.server.http.get(
        f"{world.server.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
    ).status_code


async def gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and b"zombie" not in _state(pid):
        assert time.monotonic() < deadline, f"the dashboard process {pid} still runs"
        await asyncio.sleep(0.05)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return b"zombie"


async def test_a_key_opens_its_owners_dashboard_sized_and_resized_with_its_terminal(
    tmp_path: Path,
):
    server = Server(tmp_path)
    server.start()  # --ssh-port through RUNWAY_SSH_PORT
    try:
        world = set_up(server)
        connection = await connect(server.ssh_port, "ann", client_keys=[world.key])
        channel, screen = await open_dashboard(connection, (80, 24))
        await screen.wait_for("orchard")
        assert "Environments" in screen.text()
        (pid,) = server.dashboards()

        seen = environ(pid)
        assert set(seen) <= CHILD_VARIABLES, seen
        assert SERVER_SECRET not in seen
        assert (seen["TERM"], seen["RUNWAY_USER"]) == ("xterm-256color", "ann")
        token = seen["RUNWAY_TOKEN"]
        assert me(world, token) == 200

        # Row 33 exists only once the app knows its terminal grew (the kernel's SIGWINCH).
        assert b"\x1b[33;1H" not in screen.received
        channel.change_terminal_size(100, 33)
        await screen.wait_for(b"\x1b[33;1H", 15)

        # Stopping the server (SIGTERM) ends the sessions still open, and their apps.
    finally:
        assert server.stop() == 0, server.output()
    await asyncio.wait_for(screen.closed.wait(), 10)
    await gone(pid)
    assert "runway: the server is stopping" in screen.text()
    output = server.output()
    host_key = fingerprint_in(output)
    assert host_key.startswith("SHA256:")  # people check it against what ssh shows
    assert "PRIVATE KEY" not in output
    assert "Traceback" not in output, output


def fingerprint_in(output: str) -> str:
    found = re.search(r"dashboard over SSH on 127\.0\.0\.1:\d+ \(host key (\S+)\)", output)
    assert found, output
    return found.group(1)


def test_a_taken_ssh_port_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(
            ["serve", "--port", "0", "--ssh-port", str(port), "--data-dir", str(tmp_path)]
        )
    assert status == 1
    assert capsys.readouterr().err == (
        f"runway: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
