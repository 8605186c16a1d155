"""The rules of the browser dashboard that need no server: limits, where a login leads, and
what a dashboard process is started with."""

from __future__ import annotations

import os
import sys

import pytest

from runway.http.ui.pages import _next
from runway.http.ui.processes import (
    DashboardProcess,
    LimitReached,
    Limits,
    Processes,
    child_environment,
    command,
)


def test_a_person_and_the_server_each_have_a_limit() -> None:
    processes = Processes(Limits(per_user=2, total=3))
    first = processes.reserve(user_id=1, session_id=10)
    processes.reserve(user_id=1, session_id=10)
    with pytest.raises(LimitReached, match="close one of them"):
        processes.reserve(user_id=1, session_id=11)
    processes.reserve(user_id=2, session_id=20)
    with pytest.raises(LimitReached, match="try again later"):
        processes.reserve(user_id=3, session_id=30)
    processes.release(first)
    processes.reserve(user_id=1, session_id=11)


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
    assert "RUNWAY_TOKEN" not in made


def test_the_environment_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWAY_DATABASE_URL", "postgresql://secret@db/runway")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")

    async def nothing(*_: object) -> None:
        return None

    process = DashboardProcess(
        "true",
        child_environment("rw_token", "ann", 7),
        write_bytes=nothing,
        write_str=nothing,
        close=nothing,
    )
    environment = process._build_environment(120, 40)
    assert "RUNWAY_DATABASE_URL" not in environment and "AWS_SECRET_ACCESS_KEY" not in environment
    assert environment["RUNWAY_TOKEN"] == "rw_token"
    assert environment["RUNWAY_DEPLOYMENT"] == "7"
    assert environment["TEXTUAL_DRIVER"] == "textual.drivers.web_driver:WebDriver"
    assert environment["COLUMNS"] == "120" and environment["ROWS"] == "40"
    assert environment["PATH"] == os.environ["PATH"]
