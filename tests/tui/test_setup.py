"""The first run: a server without any user, where the dashboard's login screen creates the
first admin with the setup token the server printed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from textual.widgets import Input, Static

from runway.client import Credentials
from runway.tui import make_dashboard
from runway.tui.screens.environments import EnvironmentsScreen
from runway.tui.screens.login import LoginScreen
from tests.test_serve import PASSWORD
from tests.tui.conftest import press_button, until
from tests.tui.world import Server

pytestmark = pytest.mark.anyio


async def test_the_first_admin_is_created_from_the_login_screen(tmp_path: Path):
    server = Server(tmp_path)
    server.start()
    remembered: list[Credentials] = []
    try:
        app = make_dashboard(server.url, remember=remembered.append)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(app, lambda: isinstance(app.screen, LoginScreen), "the login screen")
            screen = app.screen
            await until(app, lambda: screen.first_run, "the first-run form")
            hint = screen.query_one("#first-run", Static)
            assert "no user yet" in str(hint.render())

            screen.query_one("#setup-token", Input).value = "rw_not_the_token"
            screen.query_one("#username", Input).value = "ann"
            screen.query_one("#password", Input).value = PASSWORD
            await press_button(pilot, "#log-in")
            problem = screen.query_one("#problem", Static)
            await until(app, lambda: "setup token is wrong" in str(problem.render()), "refusal")

            screen.query_one("#setup-token", Input).value = server.setup_token()
            screen.query_one("#password", Input).focus()
            await pilot.press("enter")
            await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "logged in")
            await until(
                app,
                lambda: "No environment yet" in str(app.screen.query_one("#empty").render()),
                "the list",
            )
        assert [(c.url, c.username) for c in remembered] == [(server.url, "ann")]
        me = httpx.get(
            f"{server.url}/api/v1/users/me",
            headers={"Authorization": f"Bearer {remembered[0].token}"},
        )
        assert me.json()["name"] == "ann"
    finally:
        server.stop()
