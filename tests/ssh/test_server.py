"""The SSH server in this process, over a SQLite store and no API (its dashboards cannot reach
one, which these tests do not need): who gets in, what is refused, the host key, stopping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from runway.auth import token_hash
from runway.ssh import LimitReached, Limits, session
from runway.ssh.session import Running
from runway.ssh.terminal import DEFAULT_TERM, term_of
from runway.store import Role, Store, sqlite_url
from tests.ssh.conftest import (
    HASHER,
    LIMITS,
    Here,
    Screen,
    connect,
    environ,
    open_dashboard,
    start,
)
from tests.test_serve import PASSWORD

pytestmark = pytest.mark.anyio


async def test_a_password_logs_in_until_the_login_limit_then_waits(here: Here):
    password = {"preferred_auth": "password"}
    async with await connect(here.port, "ann", password=PASSWORD, **password):
        pass
    for guess in range(LIMITS.per_user):
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(here.port, "ann", password=f"guess number {guess}", **password)
    with pytest.raises(asyncssh.PermissionDenied):  # the right one waits now too
        await connect(here.port, "ann", password=PASSWORD, **password)
    # Counted where the API's login counts (and refuses) them: one limit for both.
    since = datetime.now(UTC) - LIMITS.window
    assert len(await here.store.credentials.failures("user:ann", since)) == LIMITS.per_user
    with pytest.raises(asyncssh.PermissionDenied):  # and a user who does not exist is no one
        await connect(here.port, "nobody", password=PASSWORD, **password)


async def test_a_key_of_nobody_or_of_someone_else_is_refused(here: Here):
    await here.store.users.create("bob", HASHER.hash(PASSWORD), Role.MEMBER)
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(here.port, "ann", client_keys=[stranger])
    with pytest.raises(asyncssh.PermissionDenied):  # bob exists, but the key is ann's
        await connect(here.port, "bob", client_keys=[here.key])
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(here.port, "root", client_keys=[here.key])
    async with await connect(here.port, "ann", client_keys=[here.key]):
        pass


async def test_a_disabled_user_is_out_at_once(
    here: Here, light_app: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(session, "CHECK_EVERY", 0.1)
    connection = await connect(here.port, "ann", client_keys=[here.key])
    _, screen = await open_dashboard(connection)
    await screen.wait_for("light app")
    (dashboard,) = here.server._shared.sessions
    child = dashboard._child
    assert child is not None
    ann = await here.store.users.by_name("ann")
    assert ann is not None
    await here.store.users.update(ann.id, disabled=True)
    await asyncio.wait_for(screen.closed.wait(), 10)  # its token checked every CHECK_EVERY
    assert child.process.returncode is not None
    assert "your account was disabled or logged out" in screen.text()
    assert b"\x1b[?1049l" in screen.received  # the client's terminal is put back

    with pytest.raises(asyncssh.PermissionDenied):
        await connect(here.port, "ann", client_keys=[here.key])
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(here.port, "ann", password=PASSWORD, preferred_auth="password")


async def test_commands_subsystems_and_every_forwarding_are_refused(here: Here, light_app: None):
    """Port and socket forwarding are refused by asyncssh's defaults as well as by the server's
    own overrides: those lines guard against either changing, and cannot fail today. Agent
    forwarding is asyncssh's default for a server (AllowAgentForwarding): the server's
    `agent_forwarding=False` is what refuses it. (X11 needs a display to be asked for; asyncssh
    refuses it by default and the server says so again.)"""
    agent = {"agent_forwarding": "/run/runway-test-agent.sock"}
    async with await connect(here.port, "ann", client_keys=[here.key], **agent) as connection:
        _, screen = await open_dashboard(connection)  # asks for the agent before the shell
        await screen.wait_for("light app")
        (dashboard,) = here.server._shared.sessions
        assert dashboard._chan is not None
        assert dashboard._chan.get_agent_path() is None
        with pytest.raises(asyncssh.ChannelOpenError):
            await connection.create_session(asyncssh.SSHClientSession, "cat /etc/passwd")
        with pytest.raises(asyncssh.ChannelOpenError):
            await connection.create_session(asyncssh.SSHClientSession, subsystem="sftp")
        with pytest.raises(asyncssh.ChannelOpenError):
            await connection.create_connection(asyncssh.SSHTCPSession, "127.0.0.1", 22)
        with pytest.raises(asyncssh.ChannelListenError):
            await connection.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 1)
        with pytest.raises(asyncssh.ChannelOpenError):
            await connection.create_unix_connection(asyncssh.SSHUNIXSession, "/run/anything")
        with pytest.raises(asyncssh.ChannelListenError):
            await connection.forward_remote_path("/tmp/runway-test.sock", "/run/anything")


async def test_the_host_key_is_made_once_and_kept_in_the_database(tmp_path: Path):
    keys = []
    for _ in range(2):
        store = await Store.open(sqlite_url(tmp_path))
        server, port = await start(store)
        try:
            keys.append(await asyncssh.get_server_host_key("127.0.0.1", port))
        finally:
            await server.close()
            await store.close()
    first, again = keys
    assert first is not None
    assert again is not None
    assert again.public_data == first.public_data
    assert first.get_fingerprint() == server.fingerprint
    other = await Store.open(sqlite_url(tmp_path / "elsewhere"))
    try:
        elsewhere, port = await start(other)
        await elsewhere.close()
    finally:
        await other.close()
    assert elsewhere.fingerprint != server.fingerprint  # made, not built in


async def test_leaving_ends_the_app_and_revokes_its_token(here: Here, light_app: None):
    connection = await connect(here.port, "ann", client_keys=[here.key])
    _, screen = await open_dashboard(connection)
    await screen.wait_for("light app")
    (dashboard,) = here.server._shared.sessions
    child = dashboard._child
    assert child is not None
    token = token_hash(environ(child.pid)["RUNWAY_TOKEN"])
    assert await here.store.credentials.authenticate(token, datetime.now(UTC)) is not None
    connection.close()
    for _ in range(200):
        if not here.server._shared.sessions:
            break
        await asyncio.sleep(0.05)
    assert child.process.returncode is not None
    assert await here.store.credentials.authenticate(token, datetime.now(UTC)) is None
    assert here.server._shared.running.total() == 0


async def test_stopping_the_server_ends_its_sessions_and_their_apps(here: Here, light_app: None):
    connection = await connect(here.port, "ann", client_keys=[here.key])
    _, screen = await open_dashboard(connection)
    await screen.wait_for("light app")
    (dashboard,) = here.server._shared.sessions
    child = dashboard._child
    assert child is not None
    await here.server.close()
    await asyncio.wait_for(screen.closed.wait(), 10)
    assert child.process.returncode is not None
    assert screen.text().endswith("runway: the server is stopping\r\n")
    assert here.server._shared.running.total() == 0


async def test_a_session_without_a_terminal_is_told_to_ask_for_one(here: Here):
    async with await connect(here.port, "ann", client_keys=[here.key]) as connection:
        channel, screen = await connection.create_session(Screen, encoding=None)
        await asyncio.wait_for(screen.closed.wait(), 10)
    assert "needs a terminal" in screen.text()
    assert channel.get_exit_status() == 1


def test_dashboards_are_limited_in_all_on_a_server():
    running = Running(Limits(total=3))
    for _ in range(3):
        running.reserve()
    with pytest.raises(LimitReached, match="as many dashboards as it can"):
        running.reserve()
    running.release()
    running.reserve()
    assert running.total() == 3


def test_only_a_terminals_name_is_taken_for_term():
    assert term_of("xterm-256color") == "xterm-256color"
    assert term_of("screen.xterm+kitty") == "screen.xterm+kitty"
    for strange in ("", "x" * 70, "xterm\n", "$(reboot)", "-e"):
        assert term_of(strange) == DEFAULT_TERM
