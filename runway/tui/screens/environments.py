"""The first screen: the person's environments, each with its apps, their state and latest
deployment; create one, delete one (its name typed to confirm), open one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Header, Static

from runway.client import Client, ClientError
from runway.tui import text
from runway.tui.screens.polled import PolledScreen
from runway.tui.widgets.banner import ConnectionBanner
from runway.tui.widgets.dialogs import AskName, TypeToConfirm

if TYPE_CHECKING:
    from runway.tui.app import Dashboard


def rows(environments: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(environment, apps, latest deployment, its state) per environment; one line per app
    when it has several."""
    found = []
    for env in environments:
        if "apps" not in env:  # listed, its own read still to come
            found.append((str(env["name"]), "…", "…", "…"))
            continue
        apps = env.get("apps") or []
        if not apps:
            found.append((str(env["name"]), "-", "no deployment yet", "-"))
        for index, app in enumerate(apps):
            latest = app.get("latest_deployment") or {}
            found.append(
                (
                    str(env["name"]) if index == 0 else "",
                    str(app.get("name")),
                    f"#{latest.get('number')} {text.when(latest.get('created_at'))}"
                    if latest
                    else "-",
                    text.state(latest.get("status")) if latest else "-",
                )
            )
    return found


class EnvironmentsScreen(PolledScreen):
    """The person's environments; Enter opens one."""

    CSS_PATH = "environments.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("n", "create", "New"),
        Binding("d", "delete", "Delete"),
        Binding("r", "refresh", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]

    environments: reactive[list[dict[str, Any]] | None] = reactive(None)
    """Every environment with its apps (None until the first read)."""

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        yield Static("Environments", classes="heading")
        table: DataTable[str] = DataTable(cursor_type="row", id="environments")
        table.add_columns("ENVIRONMENT", "APP", "LATEST DEPLOYMENT", "STATE")
        yield table
        yield Static("loading…", id="empty", classes="hint")
        yield Footer()

    def action_refresh(self) -> None:
        self._load()

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        async def read(client: Client) -> list[dict[str, Any]]:
            # Each environment's apps come from its own read: the list does not carry them.
            return list(await asyncio.gather(*(client.environment(e["name"]) for e in listed)))

        try:
            listed = await self.dashboard.api(lambda c: c.environments())
            if self.environments is None:  # the names at once, the rest as it comes
                self.environments = listed
            self.environments = await self.dashboard.api(read)
        except ClientError as error:
            if self.environments is None:
                self.query_one("#empty", Static).update(error.message)

    def watch_environments(self, environments: list[dict[str, Any]] | None) -> None:
        if environments is None:
            return
        table = self.query_one("#environments", DataTable)
        kept = table.cursor_row
        table.clear()
        for index, row in enumerate(rows(environments)):
            table.add_row(*row, key=f"{index}")
        if table.row_count:
            table.move_cursor(row=min(kept, table.row_count - 1))
        self.query_one("#empty", Static).update(
            "Enter opens the highlighted environment."
            if environments
            else "No environment yet: press n to create one."
        )

    def selected(self) -> str | None:
        """The environment of the highlighted row (the rows of its other apps are blank)."""
        table = self.query_one("#environments", DataTable)
        if not table.row_count:
            return None
        for index in range(table.cursor_row, -1, -1):
            name = str(table.get_row_at(index)[0])
            if name:
                return name
        return None

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        from runway.tui.screens.environment import EnvironmentScreen

        name = self.selected()
        if name:
            self.app.push_screen(EnvironmentScreen(name))

    def action_create(self) -> None:
        self.app.push_screen(AskName("Name of the new environment", "staging"), self._create)

    def _create(self, name: str | None) -> None:
        if name:
            self._call("create_environment", name, f"environment {name} created")

    def action_delete(self) -> None:
        name = self.selected()
        if not name:
            return
        question = f"Delete environment {name}, with everything deployed in it?"

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._call("delete_environment", name, f"environment {name} deleted")

        self.app.push_screen(TypeToConfirm(question, name, "Delete"), confirmed)

    @work(group="change", description="change")
    async def _call(self, method: str, name: str, done: str) -> None:
        try:
            await self.dashboard.api(lambda c: getattr(c, method)(name))
        except ClientError as error:
            self.notify(error.message or error.code, severity="error")
            return
        self.notify(done)
        self.action_refresh()

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("New environment", "Create an environment", self.action_create)
        yield SystemCommand("Refresh", "Read the environments again", self.action_refresh)
