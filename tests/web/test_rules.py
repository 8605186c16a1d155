"""The rules of the browser dashboard that need no server: limits, where a login leads, what a
dashboard process is started with and given, and the pool of processes started ahead."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from asyncio.subprocess import Process
from pathlib import Path

import pytest

from runway.cli.tui import _read_line
from runway.http.ui import pool as pool_module
from runway.http.ui import terminal
from runway.http.ui.assets import takes_gzip
from runway.http.ui.pages import _next
from runway.http.ui.pool import Pool
from runway.http.ui.processes import (
    WAIT_FLAG,
    Assignment,
    LimitReached,
    Limits,
    Processes,
    command,
    environment,
)


def test_the_server_has_a_total_limit() -> None:
    processes = Processes(Limits(per_user=2, total=2))
    first = processes.reserve(user_id=1, session_id=10)
    processes.reserve(user_id=2, session_id=20)
    with pytest.raises(LimitReached, match="try again later"):
        processes.reserve(user_id=3, session_id=30)
    processes.release(first)
    processes.reserve(user_id=3, session_id=30)
    assert processes.count() == 2


def test_logging_out_ends_that_sessions_dashboards_only() -> None:
    processes = Processes(Limits())
    mine, other = processes.reserve(1, 10), processes.reserve(1, 11)
    processes.end_session(10)
    assert mine.is_set() and not other.is_set()


@pytest.mark.parametrize(
    ("given", "goes"),
    [
        ("/ui/deployments/4", "/ui/deployments/4"),
        ("", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("https://evil.example/ui/", "/ui/"),
        ("/ui/\\evil", "/ui/"),
        ("/api/v1/users", "/ui/"),
    ],
)
def test_a_login_leads_to_the_dashboard_only(given: str, goes: str) -> None:
    assert _next(given) == goes


def test_the_command_holds_nothing_from_a_request_and_execs() -> None:
    made = command("http://127.0.0.1:8080")
    assert made.startswith(f"exec {sys.executable} -m runway tui --url ")
    assert made.endswith(WAIT_FLAG)


def test_the_environment_is_clean_and_names_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWAY_DATABASE_URL", "postgresql://secret@db/runway")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    monkeypatch.setenv("RUNWAY_TOKEN", "rw_of_the_server")
    made = environment()
    assert not {"RUNWAY_DATABASE_URL", "AWS_SECRET_ACCESS_KEY", "RUNWAY_TOKEN"} & set(made)
    assert made["TEXTUAL_DRIVER"] == "textual.drivers.web_driver:WebDriver"
    assert made["COLUMNS"] == "80" and made["ROWS"] == "24"
    assert made["PATH"] == os.environ["PATH"]


def test_the_assignment_is_one_line_and_the_app_input_after_it_stays() -> None:
    line = Assignment("rw_token", "ann\nbob", 7).line(120, 40)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert json.loads(line) == {
        "token": "rw_token", "user": "ann\nbob", "deployment": 7, "width": 120, "height": 40
    }  # fmt: skip
    read, write = os.pipe()
    try:
        os.write(write, line + b"D\x00\x00\x00\x01x")  # the first packet of the app's input
        assert _read_line(read) + b"\n" == line
        assert os.read(read, 100) == b"D\x00\x00\x00\x01x"
    finally:
        os.close(read)
        os.close(write)


class _Started:
    """`cat` as the pool's child: it waits on stdin, as the real one does, and ends at EOF."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def __call__(self, public_url: str) -> Process:
        self.urls.append(public_url)
        return await asyncio.create_subprocess_exec(
            "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
        )


async def _settled(pool: Pool, count: int) -> list[int]:
    for _ in range(200):
        if len(pool.waiting()) == count and (pool._filling is None or pool._filling.done()):
            return pool.waiting()
        await asyncio.sleep(0.01)
    raise AssertionError(f"{pool.waiting()} waiting, not {count}")


@pytest.mark.anyio
async def test_the_pool_fills_within_the_total_and_refills_a_while_after_a_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool_module, "REFILL_AFTER", 0.3)
    monkeypatch.setattr(pool_module, "STAGGER", 0.01)
    room = [5]
    started = _Started()
    pool = Pool(lambda: 2, lambda: room[0], started)
    try:
        pool.fill("http://a")
        first = await _settled(pool, 2)
        taken = pool.take("http://a")
        assert taken is not None and taken.pid == first[0]
        assert pool.waiting() == first[1:]  # not refilled at once: the taken one is starting
        await asyncio.sleep(0.1)
        assert len(pool.waiting()) == 1
        await _settled(pool, 2)
        taken.kill()
        await taken.wait()
        room[0] = 1  # the tabs use all but one of the total
        assert pool.take("http://a") is not None
        await asyncio.sleep(0.5)
        assert len(pool.waiting()) == 1  # the one left; no room for another
        # Started for another public URL: ended, and new ones started for the new one.
        old = pool.waiting()
        room[0] = 5
        assert pool.take("http://b") is None
        await _settled(pool, 2)
        assert started.urls[-2:] == ["http://b", "http://b"] and not set(old) & set(pool.waiting())
    finally:
        waiting = pool.waiting()
        await pool.close()
    assert waiting and not pool.waiting()
    assert not any(Path(f"/proc/{pid}").exists() for pid in waiting)  # killed and reaped


@pytest.mark.anyio
async def test_a_pool_of_none_starts_nothing() -> None:
    started = _Started()
    pool = Pool(lambda: 0, lambda: 5, started)
    pool.fill("http://a")
    assert pool.take("http://a") is None
    await asyncio.sleep(0.05)
    assert not started.urls and not pool.waiting()


@pytest.mark.parametrize(
    ("sent", "takes"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("GZIP", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("identity", False),
        ("", False),
        ("x-gzip", False),
    ],
)
def test_gzip_only_when_the_browser_takes_it(sent: str, takes: bool) -> None:
    assert takes_gzip(sent) is takes


class _Socket:
    """The browser's side of a websocket: the frames it sends, then it closes."""

    def __init__(self, *frames: object) -> None:
        self.frames = [json.dumps(frame) for frame in frames]

    async def receive_text(self) -> str:
        if not self.frames:
            raise terminal.WebSocketDisconnect()
        return self.frames.pop(0)


class _App:
    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    async def set_terminal_size(self, width: int, height: int) -> None:
        self.sizes.append((width, height))


@pytest.mark.anyio
async def test_a_resize_to_the_apps_own_size_is_not_passed_on() -> None:
    # The page sends its size as soon as it is connected: the one it opened the websocket with.
    app = _App()
    socket = _Socket(
        ["resize", {"width": 155, "height": 41}],
        ["resize", {"width": 120, "height": 41}],
        ["resize", {"width": 120, "height": 41}],
        ["resize", {"width": 155, "height": 41}],
    )
    await terminal._pump(socket, app, (155, 41))  # type: ignore[arg-type]
    assert app.sizes == [(120, 41), (155, 41)]
