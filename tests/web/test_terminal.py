"""The dashboard's websocket: who gets a dashboard process, what that process is given, and
what ends it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.tui.world import World, a_world, wait_for
from tests.web.conftest import SERVER_SECRET
from tests.web.world import Person, add_member, started_pids, waiting_pids

ALLOWED = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONUNBUFFERED", "COLUMNS",
           "ROWS", "TEXTUAL_DRIVER", "TEXTUAL_FPS", "TEXTUAL_COLOR_SYSTEM", "TERM_PROGRAM",
           "TERM_PROGRAM_VERSION", "PWD"}  # fmt: skip
"""What a dashboard process may see (the shell that `exec`s it adds PWD): nobody's token or
name, which it is given on stdin once it is some tab's."""


def _environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode().partition("=") for item in raw if item)
    return {name: value for name, _, value in pairs}


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in _status(pid)


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return ""


def _app_tokens(world: World) -> list[str]:
    items = world.call("GET", "/api/v1/tokens")["items"]
    return [t["name"] for t in items if t["name"] == "browser dashboard"]


def test_a_monitor_url_opens_the_deployment_with_a_token_of_its_own(world: World) -> None:
    world.environment("web-monitor")
    ident = world.deployed("web-monitor", "monitor.example.com")
    ann = Person(world.url)
    ann.log_in()
    waiting = wait_for(lambda: waiting_pids(world), "the pool's children to wait", 30)
    for pid in waiting:  # started ahead: a clean environment, and nobody's data
        assert set(_environment(pid)) <= ALLOWED
        assert SERVER_SECRET in os.environ and SERVER_SECRET not in _environment(pid)
    with ann.tab(f"/ui/ws/{ident}") as tab:
        tab.read_until("succeeded", "blog")
        pid = started_pids(world)[-1]
        assert pid in waiting  # the tab got a child of the pool, ready
        assert set(_environment(pid)) <= ALLOWED
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert "-m\0runway\0tui" in cmdline and "rw_" not in cmdline  # exec: no shell
        assert _app_tokens(world) == ["browser dashboard"]
    wait_for(lambda: not _alive(pid), "the closed tab's process to end", 15)
    wait_for(lambda: not _app_tokens(world), "the app's token to be revoked", 15)
    refilled = wait_for(lambda: waiting_pids(world), "the pool to be refilled", 30)
    assert pid not in refilled


def test_keys_reach_the_app(world: World) -> None:
    ann = Person(world.url)
    ann.log_in()
    with ann.tab() as tab:
        tab.read_until("Refresh")
        tab.send("stdin", "\x10")  # ctrl+p: the command palette
        tab.read_until("Search for commands")


@pytest.mark.parametrize("origin", ["http://127.0.0.1:1", "http://evil.example", None])
def test_a_websocket_from_another_origin_or_none_is_refused(
    world: World, origin: str | None
) -> None:
    ann = Person(world.url)
    ann.log_in()
    before = len(started_pids(world))
    with pytest.raises(InvalidStatus) as refused, ann.tab(origin=origin):
        pass
    assert refused.value.response.status_code == 403
    assert len(started_pids(world)) == before


def test_a_websocket_without_a_session_is_refused(world: World) -> None:
    for cookie in ("", "rw_not-a-session"):
        with pytest.raises(InvalidStatus) as refused, Person(world.url).tab(cookie=cookie):
            pass
        assert refused.value.response.status_code == 403


def test_logging_out_closes_the_dashboard_and_refuses_a_new_one(world: World) -> None:
    ann = Person(world.url)
    ann.log_in()
    cookie = ann.cookie
    with ann.tab() as tab:
        tab.read_until("Refresh")
        pid = started_pids(world)[-1]
        ann.log_out()
        tab.wait_closed(5)
    wait_for(lambda: not _alive(pid), "the process to end", 15)
    with pytest.raises(InvalidStatus) as refused, ann.tab(cookie=cookie):
        pass
    assert refused.value.response.status_code == 403


def test_disabling_someone_closes_their_dashboards(world: World) -> None:
    add_member(world, "bob")
    bob = Person(world.url)
    bob.log_in("bob")
    with bob.tab() as tab:
        tab.read_until("Refresh")
        world.call("PATCH", "/api/v1/users/bob", json={"disabled": True})
        tab.wait_closed(10)
    assert bob.client.get("/ui/").status_code == 303


def test_a_person_has_a_few_dashboards_at_most(world: World) -> None:
    add_member(world, "cal")
    cal = Person(world.url)
    cal.log_in("cal")
    with cal.tab() as one, cal.tab() as two, cal.tab() as three, cal.tab() as four:
        for tab in (one, two, three, four):
            tab.read_until("Refresh")
        with cal.tab() as fifth:
            assert "close one of them" in fifth.read_until("dashboards open")
            fifth.wait_closed(5)


def test_stopping_the_server_leaves_no_dashboard_behind(tmp_path: Path) -> None:
    with a_world(tmp_path) as world:
        ann = Person(world.url)
        ann.log_in()
        with ann.tab() as tab:
            tab.read_until("Refresh")
            pid = started_pids(world)[-1]
            waiting = wait_for(lambda: waiting_pids(world), "the pool to be refilled", 30)
            world.server.stop()
            tab.wait_closed(10)
    for each in (pid, *waiting):
        wait_for(lambda: not _alive(each), "the dashboard processes to end with the server", 15)  # noqa: B023


def test_a_server_killed_leaves_no_waiting_child_behind(tmp_path: Path) -> None:
    """A waiting child reads its assignment from the server: the pipe's end ends it."""
    with a_world(tmp_path) as world:
        Person(world.url).client.get("/ui/login")
        waiting = wait_for(lambda: waiting_pids(world), "the pool's children to wait", 30)
        world.server.stop(kill=True)
    for each in waiting:
        wait_for(lambda: not _alive(each), "the waiting children to end", 15)  # noqa: B023
