"""A session around its app: the directory it runs in, how it ends (and says why), and an app
that will not go."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.screen import Screen

from runway.ssh import Limits, session, terminal
from runway.store import StoreError, Token, TokenKind
from runway.tui.app import REMOTE_VARIABLE, make_dashboard
from tests.ssh.conftest import Here, connect, environ, open_dashboard, serving, start

pytestmark = pytest.mark.anyio

STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('on', flush=True); time.sleep(60)"
)


async def test_each_dashboard_has_a_home_of_its_own_removed_when_it_ends(
    here: Here, light_app: None
):
    connection = await connect(here.port, "ann", client_keys=[here.key])
    _, screen = await open_dashboard(connection)
    await screen.wait_for("light app")
    (dashboard,) = here.server._shared.sessions
    assert dashboard._child is not None
    pid = dashboard._child.pid
    seen = environ(pid)
    home = Path(seen["HOME"])
    assert home != Path.home()
    assert Path(f"/proc/{pid}/cwd").readlink() == home  # not the server's directory either
    assert home.is_dir()
    assert seen[REMOTE_VARIABLE] == "1"  # the app offers no Screenshot that would land here
    (home / "Downloads").mkdir()  # where Textual would have saved one
    (home / "Downloads" / "screenshot.svg").write_text("<svg/>")
    connection.close()
    deadline = time.monotonic() + 10
    while home.exists():
        assert time.monotonic() < deadline, f"{home} is still there"
        await asyncio.sleep(0.05)


async def test_a_failing_check_does_not_end_a_dashboard_and_its_time_up_says_so(
    here: Here, light_app: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    lifetime = 1.0
    monkeypatch.setattr(session, "SESSION_LIMIT", timedelta(seconds=lifetime))
    monkeypatch.setattr(session, "CHECK_EVERY", 0.1)
    credentials = here.store.credentials
    real = credentials.authenticate
    checks = 0

    async def flaky(*args: object) -> object:
        nonlocal checks
        checks += 1
        if checks <= 3:  # a bug, not a StoreError: no answer either way
            raise RuntimeError("something unexpected")
        return await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(credentials, "authenticate", flaky)
    started = time.monotonic()
    connection = await connect(here.port, "ann", client_keys=[here.key])
    _, screen = await open_dashboard(connection)
    await asyncio.wait_for(screen.closed.wait(), 10)
    assert time.monotonic() - started >= lifetime  # it went on until its time was up
    assert "your session's 12 hours are up: connect again" in screen.text()
    assert "disabled or logged out" not in screen.text()
    said = [r for r in caplog.records if "cannot check a dashboard's token" in r.getMessage()]
    assert len(said) == 1  # once while it fails, with the traceback of what went wrong
    assert said[0].exc_info is not None
    connection.close()


async def sessions_tokens(here: Here) -> list[Token]:
    """ann's live dashboard tokens over SSH, of every kind."""
    ann = await here.store.users.by_name("ann")
    assert ann is not None
    found = await here.store.credentials.tokens(ann.id)
    return [t for t in found if t.name == session.APP_TOKEN_NAME and t.revoked_at is None]


async def test_a_sessions_token_is_short_lived_and_renewed_while_it_runs(
    here: Here, light_app: None, monkeypatch: pytest.MonkeyPatch
):
    # A server killed in the middle of a session cannot revoke its token: what bounds it is
    # its lifetime, minutes (renewed while the session runs), not the session's 12 hours.
    assert session.APP_TOKEN_LIFETIME.total_seconds() <= 600
    monkeypatch.setattr(session, "APP_TOKEN_LIFETIME", timedelta(seconds=1))
    monkeypatch.setattr(session, "RENEW_EVERY", timedelta(seconds=0.2))
    monkeypatch.setattr(session, "CHECK_EVERY", 0.1)
    connection = await connect(here.port, "ann", client_keys=[here.key])
    _, screen = await open_dashboard(connection)
    await screen.wait_for("light app")
    (token,) = await sessions_tokens(here)
    assert token.kind is TokenKind.SESSION  # not among the API tokens ann names and manages
    assert token.expires_at - token.created_at <= timedelta(seconds=1)
    await asyncio.sleep(2.5)  # over twice its first lifetime
    assert not screen.closed.is_set()
    (renewed,) = await sessions_tokens(here)
    assert renewed.expires_at > datetime.now(UTC)
    connection.close()
    deadline = time.monotonic() + 10
    while await sessions_tokens(here):  # revoked once the session ended
        assert time.monotonic() < deadline, "the session's token is still live"
        await asyncio.sleep(0.05)


async def test_a_token_not_renewed_in_time_ends_the_session_and_says_why(
    here: Here, light_app: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(session, "APP_TOKEN_LIFETIME", timedelta(seconds=0.5))
    monkeypatch.setattr(session, "RENEW_EVERY", timedelta(seconds=0.1))
    monkeypatch.setattr(session, "CHECK_EVERY", 0.1)
    credentials = here.store.credentials
    real, away_until = credentials.authenticate, time.monotonic() + 1.5

    async def away(*args: object) -> object:  # the database, away for a while
        if time.monotonic() < away_until:
            raise StoreError("the database is not reachable")
        return await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(credentials, "authenticate", away)
    connection = await connect(here.port, "ann", client_keys=[here.key])
    _, screen = await open_dashboard(connection)
    await asyncio.wait_for(screen.closed.wait(), 10)
    assert "could not be renewed in time: connect again" in screen.text()
    assert "disabled or logged out" not in screen.text()
    connection.close()


async def test_a_database_that_hangs_does_not_keep_a_session_past_its_end(
    here: Here, light_app: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(session, "SESSION_LIMIT", timedelta(seconds=1))
    monkeypatch.setattr(session, "CHECK_EVERY", 0.1)

    async def hangs(*_: object) -> object:  # a half-open connection: no answer, no error
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    monkeypatch.setattr(here.store.credentials, "authenticate", hangs)
    started = time.monotonic()
    connection = await connect(here.port, "ann", client_keys=[here.key])
    _, screen = await open_dashboard(connection)
    await asyncio.wait_for(screen.closed.wait(), 10)
    assert time.monotonic() - started < 5
    assert "your session's 12 hours are up" in screen.text()
    connection.close()


async def test_a_person_has_at_most_so_many_dashboards_over_ssh_across_instances(
    tmp_path: Path, light_app: None
):
    async with serving(tmp_path, limits=Limits(per_user=1)) as here:
        other, other_port = await start(here.store, limits=Limits(per_user=1))
        try:
            first = await connect(here.port, "ann", client_keys=[here.key])
            _, screen = await open_dashboard(first)
            await screen.wait_for("light app")
            second = await connect(other_port, "ann", client_keys=[here.key])
            channel, refused = await open_dashboard(second)
            await asyncio.wait_for(refused.closed.wait(), 10)
            assert "as many dashboards open over SSH as allowed (1)" in refused.text()
            assert channel.get_exit_status() == 1
            first.close()
            while await sessions_tokens(here):
                await asyncio.sleep(0.05)
            _, again = await open_dashboard(second)  # the first one ended: room again
            await again.wait_for("light app")
            second.close()
        finally:
            await other.close()


async def test_an_app_that_will_not_go_is_killed_even_when_stopping_it_is_cancelled():
    argv = [sys.executable, "-c", STUBBORN]
    drawn = bytearray()
    child = await terminal.Child.start(
        argv, {}, 80, 24, cwd="/", output=drawn.extend, input_full=lambda full: None
    )
    while b"on" not in drawn:
        await asyncio.sleep(0.02)
    stopping = asyncio.create_task(child.stop())
    await asyncio.sleep(0.2)  # it ignored SIGTERM; QUIT_WAIT has not passed
    stopping.cancel()  # the session's task is cancelled (the server going, say)
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert await asyncio.wait_for(child.process.wait(), 5) == -9
    assert child._closed  # its terminal too


def test_the_dashboard_over_ssh_offers_no_screenshot(monkeypatch: pytest.MonkeyPatch):
    app = make_dashboard("http://127.0.0.1:9")
    titles = {command.title for command in app.get_system_commands(Screen())}
    assert "Screenshot" in titles  # on one's own machine, or in a browser
    monkeypatch.setenv(REMOTE_VARIABLE, "1")
    titles = {command.title for command in app.get_system_commands(Screen())}
    assert "Screenshot" not in titles
    assert {"Quit", "Theme"} <= titles
