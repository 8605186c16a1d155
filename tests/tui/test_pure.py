"""The dashboard's pure parts: how it writes times and states, checks answers before sending
them, and keeps a deployment current from its events."""

from __future__ import annotations

import subprocess
import sys

from runway.client import Event
from runway.tui import questions, text
from runway.tui.live import apply_event, describe

DOMAIN = {
    "name": "domain", "type": "string", "pattern": "^[a-z0-9.]+$", "answered": False,
    "source": None, "needed_by": ["web"],
}  # fmt: skip


def test_durations_fit_a_column():
    assert [text.duration(s) for s in (0.42, 12.9, 185, 7620)] == ["0.4s", "12s", "3m05s", "2h07m"]
    assert text.took("2026-11-28T10:00:00Z", "2026-11-28T10:00:04.5Z") == "4.5s"
    assert text.took(None, None) == ""
    assert text.when("2026-11-28T10:34:34.406799Z") == "2026-11-28 10:34"
    assert text.when(None) == "-"


def test_progress_counts_finished_steps():
    steps = [{"status": "succeeded"}, {"status": "skipped"}, {"status": "applying"}]
    assert text.progress(steps) == (2, 3)


def test_answers_are_checked_as_the_server_does():
    assert questions.check(DOMAIN, "blog.example.com") == ("blog.example.com", None)
    value, problem = questions.check(DOMAIN, "Not_A_Domain")
    assert value is None
    assert problem == "'Not_A_Domain' does not match the pattern '^[a-z0-9.]+$'"
    integer = {"name": "n", "type": "integer"}
    assert questions.check(integer, "12") == (12, None)
    assert questions.check(integer, "twelve")[1] == "expected an integer, got text"
    choice = {"name": "theme", "type": "choice", "choices": ["light", "dark"]}
    assert questions.check(choice, "blue")[1] == "'blue' is not one of the choices (light, dark)"


def test_a_secret_is_never_quoted_back_or_prefilled():
    secret = {"name": "pw", "type": "secret", "pattern": "^[a-z]+$", "answered": True}
    problem = questions.check(secret, "Hunter2")[1]
    assert problem is not None and "Hunter2" not in problem
    assert questions.current_text({**secret, "value": "leaked"}) == ""


def test_the_note_says_where_an_answer_comes_from_and_who_needs_it():
    assert questions.note(DOMAIN) == "not answered · needed by web"
    reused = {**DOMAIN, "answered": True, "source": "reused", "needed_by": ["web", "worker"]}
    assert questions.note(reused) == (
        "reused from the last successful deployment · needed by web, worker"
    )
    assert questions.note({**DOMAIN, "answered": True, "source": "default"}).startswith("default")


def test_events_move_steps_and_the_deployment():
    deployment = {"status": "created", "steps": [{"name": "db", "status": "pending"}]}
    at = "2026-11-28T10:00:00Z"
    running = apply_event(deployment, Event(2, "deployment", {"status": "running", "at": at}))
    applying = apply_event(
        running, Event(3, "step", {"step": "db", "status": "applying", "at": at})
    )
    failed = apply_event(
        applying, Event(4, "step", {"step": "db", "status": "failed", "reason": "boom", "at": at})
    )
    assert deployment["status"] == "created"  # the old copy is left alone
    assert running["status"] == "running" and running["started_at"] == at
    assert failed["steps"][0] == {
        "name": "db", "status": "failed", "started_at": at, "finished_at": at, "reason": "boom",
    }  # fmt: skip
    assert describe(Event(4, "step", {"step": "db", "status": "failed", "reason": "boom"})) == (
        "step db failed: boom"
    )


def test_the_dashboard_never_loads_the_store_or_the_executor():
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import sys, runway.tui, runway.cli.tui; "
         "print(sorted(m for m in sys.modules if m.startswith(('runway.store', "
         "'runway.executor', 'runway.deploy', 'runway.http'))))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert loaded.stdout.strip() == "[]"
