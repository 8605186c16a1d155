"""SVG snapshots of three screens at 80x24, against a canned server (tests/tui/canned.py) so
that no id, time or duration changes between runs: the environments, a deployment with its
questions, a failed deployment. `pytest --snapshot-update` records them again after a change
that is meant; look at the SVGs before committing them."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from runway.tui.screens.deployment import DeploymentScreen
from runway.tui.widgets.questions import QuestionsForm
from tests.tui.canned import canned_dashboard
from tests.tui.conftest import until

SIZE = (80, 24)


async def _environments_shown(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await until(
        app, lambda: app.screen.query_one("#environments", DataTable).row_count == 3, "rows"
    )
    await pilot.pause()


async def _questions_shown(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
    await until(app, lambda: app.screen.query_one("#q-debug"), "the form")
    await until(app, lambda: app.screen.query_one(QuestionsForm).region.height > 0, "shown")
    await pilot.pause()


async def _failure_shown(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
    reasons = app.screen.query_one("#reasons", Static)
    await until(app, lambda: "✗ web" in str(reasons.render()), "the reason")
    await pilot.pause()


def test_environments(snap_compare):
    assert snap_compare(canned_dashboard(), terminal_size=SIZE, run_before=_environments_shown)


def test_a_deployment_with_questions(snap_compare):
    assert snap_compare(canned_dashboard(1), terminal_size=SIZE, run_before=_questions_shown)


def test_a_failed_deployment(snap_compare):
    assert snap_compare(canned_dashboard(2), terminal_size=SIZE, run_before=_failure_shown)
