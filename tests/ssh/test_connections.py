"""How long a connection is kept: one that guesses too often, one that logs in and opens
nothing, and one whose client went without a word are dropped, and what they held is freed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from runway.ssh.server import MAX_AUTH_TRIES
from tests.ssh.conftest import connect, open_dashboard, serving

pytestmark = pytest.mark.anyio


class Guesser(asyncssh.SSHClient):
    """Tries password after password on one connection (at most 20)."""

    def __init__(self) -> None:
        self.guesses = 0

    def password_auth_requested(self) -> str | None:
        self.guesses += 1
        return f"guess number {self.guesses}" if self.guesses <= 20 else None


async def test_a_connection_is_dropped_after_six_failed_logins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    async with serving(tmp_path) as here:
        checked = []
        logins = here.server._logins
        real = logins.password_matches

        async def counted(username: str, password: str, address: str) -> bool:
            checked.append(password)
            return await real(username, password, address)

        monkeypatch.setattr(logins, "password_matches", counted)
        guesser = Guesser()
        with pytest.raises((asyncssh.PermissionDenied, asyncssh.ConnectionLost)):
            await connect(
                here.port, "ann", client_factory=lambda: guesser, preferred_auth="password"
            )
        assert len(checked) == MAX_AUTH_TRIES == 6  # each costs the database two writes
        assert guesser.guesses <= 7  # dropped: no time for more than one unheard guess
        # Offered keys count too, as OpenSSH counts them: a client with eight of nobody's
        # keys is dropped before it offers them all.
        strangers = [asyncssh.generate_private_key("ssh-ed25519") for _ in range(8)]
        offered = []
        key_matches = logins.key_matches

        async def seen(username: str, fingerprint: str) -> bool:
            offered.append(fingerprint)
            return await key_matches(username, fingerprint)

        monkeypatch.setattr(logins, "key_matches", seen)
        with pytest.raises((asyncssh.PermissionDenied, asyncssh.ConnectionLost)):
            await connect(here.port, "ann", client_keys=strangers)
        assert len(offered) == 6


async def test_a_connection_that_opens_no_session_is_closed(tmp_path: Path, light_app: None):
    async with serving(tmp_path, session_wait=0.3) as here:
        idle = await connect(here.port, "ann", client_keys=[here.key])
        await asyncio.wait_for(idle.wait_closed(), 5)
        busy = await connect(here.port, "ann", client_keys=[here.key])
        _, screen = await open_dashboard(busy)
        await screen.wait_for("light app")
        await asyncio.sleep(0.6)
        assert not screen.closed.is_set()  # a session keeps its connection
        busy.close()


async def test_a_client_that_stops_answering_is_dropped_and_its_dashboard_ended(
    tmp_path: Path, light_app: None
):
    options: dict[str, Any] = {"keepalive_interval": 0.25, "keepalive_count_max": 3}
    async with serving(tmp_path, **options) as here:
        connection = await connect(here.port, "ann", client_keys=[here.key])
        _, screen = await open_dashboard(connection)
        await screen.wait_for("light app")
        await asyncio.sleep(0.6)  # a client that answers is asked, and kept
        (dashboard,) = here.server._shared.sessions
        assert here.server._shared.running.total() == 1
        # The client hears nothing more and says nothing more: a laptop closed, a network gone.
        connection._transport.pause_reading()
        deadline = time.monotonic() + 10
        while here.server._shared.sessions or here.server._shared.running.total():
            assert time.monotonic() < deadline, "the dashboard of a gone client still runs"
            await asyncio.sleep(0.05)
        assert dashboard._child is not None
        assert dashboard._child.process.returncode is not None
        connection.abort()
