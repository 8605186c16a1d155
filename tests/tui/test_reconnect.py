"""The server going away while a person watches a deployment, and coming back: the dashboard
says it cannot reach it, then carries on by itself, its event log resumed from the last event
(nothing twice, nothing missed)."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Input, RichLog, TabbedContent

from runway.tui.screens.deployment import DeploymentScreen
from runway.tui.widgets.banner import ConnectionBanner
from tests.tui.conftest import press_button, until
from tests.tui.test_stories import SIZE, step_states
from tests.tui.world import World

pytestmark = pytest.mark.anyio


async def test_the_server_goes_away_and_comes_back(world: World):
    env = world.environment("away")
    ident = world.deploy(env)
    app = world.dashboard(open_deployment=ident)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
        screen = app.screen
        banner = screen.query_one(ConnectionBanner)
        events = screen.query_one("#events", RichLog)
        await until(app, lambda: screen.last_event >= 1, "the first event")

        world.server.stop(kill=True)
        await until(app, lambda: banner.has_class("-shown"), "the unreachable message")
        assert "cannot reach" in str(banner.render())

        world.server.start()
        await until(app, lambda: not banner.has_class("-shown"), "the message gone")

        screen.query_one("#q-domain", Input).value = "away.example.com"
        screen.query_one("#q-admin_email", Input).value = "ann@example.com"
        await press_button(pilot, "#generate-db_password")
        await pilot.press("ctrl+s")
        await until(
            app,
            lambda: all(q["answered"] for q in world.deployment(ident)["questions"]),
            "every answer taken",
        )
        await pilot.press("s", "y")
        await until(
            app, lambda: set(step_states(app).values()) == {"succeeded"}, "every step succeeded"
        )
        last = world.call("GET", f"/api/v1/deployments/{ident}")
        assert last["status"] == "succeeded"
        # Each event once: the stream resumed after the last one seen.
        screen.query_one("#tabs", TabbedContent).active = "events-tab"
        await until(app, lambda: "deployment succeeded" in events.lines[-1].text, "the end")
        # One line an event, but for the continuations of a long one wrapped at the width.
        shown = [
            line.text.split(" ", 1)[1]
            for line in events.lines
            if re.match(r"(\d\d|--):(\d\d|--):(\d\d|--) ", line.text)
        ]
        assert len(shown) == screen.last_event
        assert shown.count("deployment created") == 1
        assert shown.count("deployment running") == 1
        assert shown.count("deployment succeeded") == 1
