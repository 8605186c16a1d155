"""One environment in the dashboard: its services with their state and URLs, its deployments
newest first, its on_failure setting, and a service's live logs."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, RichLog, Select, TabbedContent

from runway.tui.screens.environment import EnvironmentScreen
from runway.tui.screens.environments import EnvironmentsScreen
from runway.tui.screens.logs import LogsScreen
from tests.tui.conftest import until
from tests.tui.test_stories import SIZE, cells
from tests.tui.world import World

pytestmark = pytest.mark.anyio


async def test_an_environment_its_services_deployments_settings_and_logs(world: World):
    env = world.environment("watched")
    world.deployed(env, "watched.example.com")
    app = world.dashboard()
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
        table = app.screen.query_one("#environments", DataTable)
        row = await until(
            app,
            lambda: next(
                (i + 1 for i, r in enumerate(cells(table)) if r[0] == env and r[1] != "…"), None
            ),
            "the environment listed with its app",
        )
        assert cells(table)[row - 1][1::2] == ["blog", "succeeded"]
        table.move_cursor(row=row - 1)
        await pilot.press("enter")
        await until(app, lambda: isinstance(app.screen, EnvironmentScreen), "the environment")
        screen = app.screen

        services = screen.query_one("#services", DataTable)
        await until(app, lambda: services.row_count == 4, "its services")
        shown = {r[1]: r for r in cells(services)}
        assert shown["web"][2:] == ["service", "succeeded", "#1", "http://watched.example.com/"]
        assert shown["migrate"][2:4] == ["job", "succeeded"]

        screen.query_one("#tabs", TabbedContent).active = "settings-tab"
        setting = screen.query_one("#on-failure", Select)
        await until(app, lambda: setting.value == "manual", "the current setting")
        setting.value = "rollback"
        await until(
            app,
            lambda: world.call("GET", f"/api/v1/environments/{env}")["on_failure"] == "rollback",
            "the setting saved",
        )

        screen.query_one("#tabs", TabbedContent).active = "services-tab"
        migrate = next(i for i, r in enumerate(cells(services)) if r[1] == "migrate")
        services.move_cursor(row=migrate)
        await pilot.press("l")
        await until(app, lambda: isinstance(app.screen, LogsScreen), "the logs")
        log = app.screen.query_one("#log", RichLog)
        said = "simulated run of ghcr.io/example/blog:2.3.0 completed"
        await until(app, lambda: any(said in line.text for line in log.lines), "its log line")
        await pilot.press("escape")
        await until(app, lambda: app.screen is screen, "back to the environment")

        newer = world.deploy(env)
        await pilot.press("r")
        deployments = screen.query_one("#deployments", DataTable)
        await until(app, lambda: deployments.row_count == 2, "its deployments")
        assert [r[:3] for r in cells(deployments)] == [
            ["#2", "blog", "created"],
            ["#1", "blog", "succeeded"],
        ]
        assert str(deployments.coordinate_to_cell_key((0, 0)).row_key.value) == str(newer)
