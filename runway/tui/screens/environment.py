"""One environment: its apps' services with their state and URLs, its deployments newest first,
its settings (`on_failure`), and from a service, its live logs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from runway.client import Client, ClientError
from runway.tui import text
from runway.tui.screens.polled import PolledScreen
from runway.tui.widgets.banner import ConnectionBanner

if TYPE_CHECKING:
    from runway.tui.app import Dashboard

ON_FAILURE = [("offer a rollback (manual)", "manual"), ("roll back at once", "rollback")]


class EnvironmentScreen(PolledScreen):
    """An environment's services, deployments and settings."""

    CSS_PATH = "environment.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("l", "logs", "Logs"),
        Binding("r", "refresh", "Refresh"),
    ]

    environment: reactive[dict[str, Any] | None] = reactive(None)
    deployments: reactive[list[dict[str, Any]]] = reactive(list)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.env_name = name

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        yield Static(f"Environment [b]{self.env_name}[/]", id="title", classes="heading")
        with TabbedContent(id="tabs"):
            with TabPane("Services", id="services-tab"):
                services: DataTable[str] = DataTable(cursor_type="row", id="services")
                services.add_columns("APP", "SERVICE", "KIND", "STATE", "DEPL.", "URLS")
                yield services
            with TabPane("Deployments", id="deployments-tab"):
                deployments: DataTable[str] = DataTable(cursor_type="row", id="deployments")
                deployments.add_columns("#", "APP", "STATUS", "CREATED", "REASON")
                yield deployments
            with TabPane("Settings", id="settings-tab"):
                yield Label("After a failed deployment:")
                yield Select(ON_FAILURE, allow_blank=True, id="on-failure")
        yield Footer()

    def action_refresh(self) -> None:
        self._load()

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        async def read(client: Client) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            return await client.environment(self.env_name), await client.deployments(self.env_name)

        try:
            self.environment, self.deployments = await self.dashboard.api(read)
        except ClientError as error:
            if error.status == 404:
                self.notify(error.message, severity="error")
                self.dismiss()

    def watch_environment(self, env: dict[str, Any] | None) -> None:
        if env is None:
            return
        self.query_one("#title", Static).update(
            f"Environment [b]{self.env_name}[/] · namespace {env.get('namespace') or '-'}"
            f" · on failure: {env.get('on_failure') or '-'}"
        )
        table = self.query_one("#services", DataTable)
        kept = table.cursor_row
        table.clear()
        for app in env.get("apps") or ():
            for service in app.get("services") or ():
                table.add_row(
                    str(app.get("name")),
                    str(service.get("name")),
                    str(service.get("kind") or "-"),
                    text.state(service.get("status")),
                    f"#{service.get('deployment')}",
                    " ".join(service.get("urls") or ()) or "-",
                )
        if table.row_count:
            table.move_cursor(row=min(kept, table.row_count - 1))
        select: Select[str] = self.query_one("#on-failure", Select)
        setting = env.get("on_failure")
        if setting and select.value != setting:
            with select.prevent(Select.Changed):
                select.value = setting

    def watch_deployments(self, deployments: list[dict[str, Any]]) -> None:
        table = self.query_one("#deployments", DataTable)
        kept = table.cursor_row
        table.clear()
        for found in deployments:
            table.add_row(
                f"#{found.get('number')}",
                str(found.get("app")),
                text.state(found.get("status")),
                text.when(found.get("created_at")),
                str(found.get("reason") or ""),
                key=str(found["id"]),
            )
        if table.row_count:
            table.move_cursor(row=min(kept, table.row_count - 1))

    @on(DataTable.RowSelected, "#deployments")
    def _open(self, event: DataTable.RowSelected) -> None:
        from runway.tui.screens.deployment import DeploymentScreen

        if event.row_key.value is not None:
            self.app.push_screen(DeploymentScreen(int(event.row_key.value)))

    @on(Select.Changed, "#on-failure")
    def _setting(self, event: Select.Changed) -> None:
        env = self.environment
        if isinstance(event.value, str) and env is not None and event.value != env["on_failure"]:
            self._save(event.value)

    @work(group="change", description="save")
    async def _save(self, on_failure: str) -> None:
        try:
            self.environment = {
                **(self.environment or {}),
                **await self.dashboard.api(
                    lambda c: c.update_environment(self.env_name, on_failure=on_failure)
                ),
            }
        except ClientError as error:
            self.notify(error.message, severity="error")
            return
        self.notify(f"on failure: {on_failure}")

    def action_logs(self) -> None:
        from runway.tui.screens.logs import LogsScreen

        table = self.query_one("#services", DataTable)
        if not table.row_count:
            return
        app, service = (str(cell) for cell in table.get_row_at(table.cursor_row)[:2])
        self.app.push_screen(LogsScreen.of_service(self.env_name, app, service))

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Service logs", "Follow the highlighted service", self.action_logs)
        yield SystemCommand("Refresh", "Read the environment again", self.action_refresh)
