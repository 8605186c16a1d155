"""Opening a deployment by its monitor URL does the least it can before the steps are drawn
(the browser dashboard's opening time, bench/dashboard.py): the environments are neither built
nor read under it, its history of events is drawn once, not once per event; going back still
leads to the environments; the questions' form is built when its tab is first shown. Against the canned server (tests/tui/canned.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from textual.widgets import Static, TabbedContent

from runway.client import Client
from runway.tui import make_dashboard
from runway.tui.screens.deployment import DeploymentScreen
from runway.tui.screens.environments import EnvironmentsScreen
from runway.tui.widgets.questions import QuestionsForm
from runway.tui.widgets.steps import StepsTable
from tests.tui.canned import BLOG, URL, answer
from tests.tui.conftest import until

pytestmark = pytest.mark.anyio
SIZE = (100, 30)


def _recorded(paths: list[str]) -> Any:
    def factory(url: str, token: str | None) -> Client:
        def recording(request: httpx.Request) -> httpx.Response:
            paths.append(request.url.path)
            return answer(request)

        return Client(url, token, transport=httpx.MockTransport(recording))

    return factory


async def test_a_monitor_url_builds_no_environments_screen_until_going_back() -> None:
    paths: list[str] = []
    app = make_dashboard(URL, "rw_canned", client_factory=_recorded(paths), open_deployment=2)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
        screen = app.screen
        await until(app, lambda: screen.last_event == 6, "its events")
        await pilot.pause()
        assert not any(isinstance(s, EnvironmentsScreen) for s in app.screen_stack)
        assert not any(p.startswith("/api/v1/environments") for p in paths), paths

        await pilot.press("escape")
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
        assert len(app.screen_stack) == 2  # replaced the deployment: escape again goes nowhere
        await until(app, lambda: "/api/v1/environments" in paths, "the environments read")


async def test_a_deployment_opened_from_the_environments_goes_back_to_them() -> None:
    app = make_dashboard(URL, "rw_canned", client_factory=_recorded([]))
    async with app.run_test(size=SIZE) as pilot:
        home = await until(
            app, lambda: app.screen if isinstance(app.screen, EnvironmentsScreen) else None, "home"
        )
        app.push_screen(DeploymentScreen(2))
        await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
        await pilot.press("escape")
        await until(app, lambda: app.screen is home, "the same environments screen")
        assert len(app.screen_stack) == 2


async def test_a_finished_deployments_history_is_drawn_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[int] = []
    original = StepsTable.show

    def counted(self: StepsTable, *args: Any, **options: Any) -> None:
        shown.append(len(args[0]))
        original(self, *args, **options)

    monkeypatch.setattr(StepsTable, "show", counted)
    app = make_dashboard(URL, "rw_canned", client_factory=_recorded([]), open_deployment=2)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
        screen = app.screen
        await until(app, lambda: screen.last_event == 6, "its six events")
        await pilot.pause(0.2)
        table = screen.query_one("#steps", StepsTable)
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)] == ["web", "cache"]
        # Read once (drawn), the six events at once (drawn, or equal: not), read again at the
        # end (equal: not drawn): not once per event.
        assert 1 <= len(shown) <= 2, shown


def _answered(request: httpx.Request) -> httpx.Response:
    """The canned blog, answered and succeeded, as deployment 3 (no event to follow)."""
    if request.url.path == "/api/v1/deployments/3/events":
        return httpx.Response(200, text="", headers={"Content-Type": "text/event-stream"})
    if request.url.path == "/api/v1/deployments/3":
        questions = [{**q, "answered": True} for q in BLOG["questions"]]
        done = {**BLOG, "id": 3, "status": "succeeded", "questions": questions}
        return httpx.Response(200, json=done)
    return answer(request)


async def test_the_questions_form_is_built_when_its_tab_is_first_shown() -> None:
    def factory(url: str, token: str | None) -> Client:
        return Client(url, token, transport=httpx.MockTransport(_answered))

    app = make_dashboard(URL, "rw_canned", client_factory=factory, open_deployment=3)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, DeploymentScreen), "the deployment")
        screen = app.screen
        title = screen.query_one("#title", Static)
        await until(app, lambda: "succeeded" in str(title.render()), "it read")
        await pilot.pause(0.2)
        form = screen.query_one("#questions", QuestionsForm)
        assert not form.query(".question")  # it opens on its steps: the fields are not built
        screen.query_one("#tabs", TabbedContent).active = "questions-tab"
        await until(app, lambda: form.query_one("#q-domain"), "the form, once shown")
        assert len(form.query(".question")) == len(BLOG["questions"])
