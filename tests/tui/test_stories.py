"""A person at the dashboard, against a real server with the simulated cluster behind it:
logging in, creating an environment, answering a deployment's questions, starting it and
watching it succeed; a failure and its reason; the server going away and coming back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, RichLog, Static

from runway.client import Credentials
from runway.client.devices import load_device
from runway.tui import make_dashboard
from runway.tui.screens.deployment import DeploymentScreen
from runway.tui.screens.environments import EnvironmentsScreen
from runway.tui.screens.login import LoginScreen
from runway.tui.screens.logs import LogsScreen
from runway.tui.widgets.steps import StepsTable
from tests.test_serve import PASSWORD
from tests.tui.conftest import press_button, screen_text, until
from tests.tui.world import BROKEN, World

pytestmark = pytest.mark.anyio
SIZE = (80, 24)


def cells(table: DataTable[Any]) -> list[list[str]]:
    """The table's text as shown (cells hold Rich markup for their colours)."""
    return [
        [Text.from_markup(str(c)).plain for c in table.get_row_at(i)]
        for i in range(table.row_count)
    ]


def text_of(widget: Static) -> str:
    return str(widget.render())


def step_states(app: Any) -> dict[str, str]:
    table = app.screen.query_one("#steps", StepsTable)
    return {row[1]: row[3] for row in cells(table)}


async def test_a_person_logs_in_and_sees_their_environments(world: World):
    world.environment("logged")
    app = make_dashboard(world.url)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, LoginScreen), "the login screen")
        app.screen.query_one("#username", Input).focus()
        await pilot.press(*"ann")
        app.screen.query_one("#password", Input).focus()
        await pilot.press(*"wrong password here", "enter")
        problem = app.screen.query_one("#problem", Static)
        await until(app, lambda: "wrong user name or password" in text_of(problem), "a refusal")

        app.screen.query_one("#password", Input).value = PASSWORD
        await press_button(pilot, "#log-in")
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
        table = app.screen.query_one("#environments", DataTable)
        await until(app, lambda: any(r[0] == "logged" for r in cells(table)), "environment")


async def log_in_on_screen(app: Any, pilot: Any) -> None:
    await until(app, lambda: isinstance(app.screen, LoginScreen), "the login screen")
    app.screen.query_one("#username", Input).value = "ann"
    app.screen.query_one("#password", Input).value = PASSWORD
    await press_button(pilot, "#log-in")
    await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
    await until(
        app,
        lambda: any(r[0] == "devices" for r in cells(app.screen.query_one("#environments"))),
        "its environment",
    )
    # Quitting while a read is under way would end it on a screen being taken down.
    await until(app, lambda: not any(w.is_running for w in app.workers), "the reads done")


async def test_only_a_dashboard_on_the_persons_own_machine_keeps_their_device_token(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RUNWAY_CONFIG_DIR", str(tmp_path))
    world.environment("devices")
    # Served (a browser tab's or an SSH session's app): nothing is kept where it runs, which is
    # runway's server, shared by everyone.
    served = make_dashboard(world.url)
    async with served.run_test(size=SIZE) as pilot:
        await log_in_on_screen(served, pilot)
    assert load_device(world.url, "ann") is None
    # `runway tui` on the person's machine: kept, and sent with its next login.
    remembered: list[Credentials] = []
    own = make_dashboard(world.url, remember=remembered.append)
    async with own.run_test(size=SIZE) as pilot:
        await log_in_on_screen(own, pilot)
    kept = load_device(world.url, "ann")
    assert kept is not None and remembered
    again = make_dashboard(world.url, remember=remembered.append)
    async with again.run_test(size=SIZE) as pilot:
        await log_in_on_screen(again, pilot)
    assert load_device(world.url, "ann") not in (None, kept)  # sent, and a new one kept


async def test_create_an_environment_then_delete_it_by_typing_its_name(world: World):
    app = world.dashboard()
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
        await pilot.press("n")
        await until(app, lambda: app.screen.query_one("#name", Input), "the name dialog")
        await pilot.press(*"fresh", "enter")
        table = app.screen.query_one("#environments", DataTable)
        await until(app, lambda: any(r[0] == "fresh" for r in cells(table)), "the new one")
        assert "fresh" in [e["name"] for e in world.call("GET", "/api/v1/environments")["items"]]

        row = next(i for i, r in enumerate(cells(table)) if r[0] == "fresh")
        table.move_cursor(row=row)
        await pilot.press("d")
        typed = await until(app, lambda: app.screen.query_one("#typed", Input), "confirmation")
        await pilot.press(*"fres", "enter")
        problem = app.screen.query_one("#problem", Static)
        await until(app, lambda: "that is not 'fresh'" in text_of(problem), "a refusal")
        typed.value = "fresh"
        await pilot.press("enter")
        await until(app, lambda: not any(r[0] == "fresh" for r in cells(table)), "it gone")
        names = [e["name"] for e in world.call("GET", "/api/v1/environments")["items"]]
        assert "fresh" not in names


async def test_answer_the_questions_start_and_watch_it_succeed(world: World):
    env = world.environment("answering")
    ident = world.deploy(env)
    app = world.dashboard(open_deployment=ident)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
        screen = app.screen
        domain = await until(app, lambda: screen.query_one("#q-domain", Input), "the form")
        await until(app, lambda: domain.region.height > 0, "the questions shown first")

        domain.value = "Not_A_Domain"
        await pilot.press("ctrl+s")
        error = screen.query_one("#error-domain", Static)
        await until(app, lambda: "does not match the pattern" in text_of(error), "refused inline")
        assert not next(q for q in world.deployment(ident)["questions"] if q["name"] == "domain")[
            "answered"
        ]

        domain.value = "blog.example.com"
        screen.query_one("#q-admin_email", Input).value = "ann@example.com"
        await press_button(pilot, "#generate-db_password")
        await pilot.press("ctrl+s")
        await until(
            app,
            lambda: all(q["answered"] for q in world.deployment(ident)["questions"]),
            "every answer taken",
        )
        questions = {q["name"]: q for q in world.deployment(ident)["questions"]}
        assert questions["domain"]["value"] == "blog.example.com"
        assert questions["db_password"]["source"] == "answer"
        assert questions["theme"]["source"] == "default"

        await pilot.press("s")
        await until(app, lambda: app.screen.query_one("#yes"), "the confirmation")
        await pilot.press("y")
        await until(
            app,
            lambda: set(step_states(app).values()) == {"succeeded"},
            "every step succeeded",
        )
        title = app.screen.query_one("#title", Static)
        await until(app, lambda: "succeeded (4/4 steps)" in text_of(title), "the deployment done")
        assert world.deployment(ident)["status"] == "succeeded"


async def test_a_failed_step_shows_its_reason(world: World):
    env = world.environment("failing")
    ident = world.deploy(env, BROKEN)
    world.call("POST", f"/api/v1/deployments/{ident}/start")
    app = world.dashboard(open_deployment=ident)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
        reasons = app.screen.query_one("#reasons", Static)
        await until(app, lambda: "✗ web" in text_of(reasons), "the failed step", timeout=120)
        found = world.deployment(ident)
        assert found["status"] == "failed"
        assert found["steps"][0]["reason"] in text_of(reasons)
        assert step_states(app)["web"] == "failed"
        assert "Start" not in screen_text(app).splitlines()[-1]  # nothing to start any more

        await pilot.press("l")
        await until(app, lambda: isinstance(app.screen, LogsScreen), "the step's logs")
        log = app.screen.query_one("#log", RichLog)
        await until(app, lambda: len(log.lines) > 0, "what the logs say")


async def test_cancel_asks_first_and_a_secret_is_never_shown(world: World):
    env = world.environment("cancelling")
    ident = world.deploy(env)
    app = world.dashboard(open_deployment=ident)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
        screen = app.screen
        secret = await until(app, lambda: screen.query_one("#q-db_password", Input), "the form")
        secret.focus()
        await pilot.press(*"hunter2-typed")
        await pilot.pause()
        assert "hunter2" not in screen_text(app)

        await pilot.press("escape")  # out of the form: letters are key bindings again
        assert app.screen is screen and screen.focused is None
        await pilot.press("c")
        await until(app, lambda: "Cancel deployment #1 of blog" in screen_text(app), "a question")
        await pilot.press("n")
        await until(app, lambda: app.screen is screen, "the question gone")
        assert world.deployment(ident)["status"] == "created"

        await pilot.press("c")
        await until(app, lambda: app.screen is not screen, "the question")
        await pilot.press("y")
        title = screen.query_one("#title", Static)
        await until(app, lambda: "cancelled" in text_of(title), "the deployment cancelled")
        assert world.deployment(ident)["status"] == "cancelled"
        assert "hunter2" not in world.server.output()


async def test_the_command_palette_creates_an_environment(world: World):
    app = world.dashboard()
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
        await pilot.press("ctrl+p")
        await until(app, lambda: "palette" in type(app.screen).__name__.lower(), "the palette")
        await pilot.press(*"New environment")
        await until(app, lambda: "Create an environment" in screen_text(app), "the command")
        await pilot.press("enter")
        name = await until(app, lambda: app.screen.query_one("#name", Input), "the name asked")
        name.value = "from-palette"
        await pilot.press("enter")
        await until(
            app,
            lambda: (
                "from-palette"
                in [e["name"] for e in world.call("GET", "/api/v1/environments")["items"]]
            ),
            "the environment created",
        )


async def test_a_token_no_longer_good_asks_for_a_login_then_goes_on(world: World):
    world.environment("again")
    app = make_dashboard(world.url, "rw_not_a_token_of_this_server")
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, LoginScreen), "the login screen")
        problem = app.screen.query_one("#problem", Static)
        assert "your session ended: log in again" in text_of(problem)
        app.screen.query_one("#username", Input).value = "ann"
        app.screen.query_one("#password", Input).value = PASSWORD
        await press_button(pilot, "#log-in")
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
        table = app.screen.query_one("#environments", DataTable)
        await until(app, lambda: any(r[0] == "again" for r in cells(table)), "its environment")
        assert len(app.screen_stack) == 2  # the login was replaced, not left underneath
