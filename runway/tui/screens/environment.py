"""One environment: its apps' services with their state and URLs, its deployments newest first
(with the restore point each one's start took), its settings (`on_failure`, how many restore
points it keeps), and from a service, its live logs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
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
MOST_KEPT = 50
"""The most restore points per app an environment may keep (the API's limit)."""


def restore_point_cell(point: Mapping[str, Any] | None) -> str:
    """What the deployments table says of a deployment's restore point: when it was taken and
    which volumes it holds (`-`: none, or pruned)."""
    if not point:
        return "-"
    volumes = [f"{v.get('service')}/{v.get('volume')}" for v in point.get("volumes") or ()]
    return f"{text.when(point.get('taken_at'))} {', '.join(volumes) or 'nothing backed up'}"


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
                deployments.add_columns("#", "APP", "STATUS", "CREATED", "RESTORE POINT", "REASON")
                yield deployments
            with TabPane("Settings", id="settings-tab"):
                yield Label("After a failed deployment:")
                yield Select(ON_FAILURE, allow_blank=True, id="on-failure")
                yield Label(f"Restore points kept per app (1 to {MOST_KEPT}, Enter saves):")
                yield Input(type="integer", max_length=2, id="restore-points-kept")
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
        field = self.query_one("#restore-points-kept", Input)
        count = env.get("restore_points_kept")
        if isinstance(count, int) and not field.has_focus:  # not while someone types
            field.value = str(count)
        self._show_deployments()

    def watch_deployments(self) -> None:
        self._show_deployments()

    def _show_deployments(self) -> None:
        table = self.query_one("#deployments", DataTable)
        points = {
            p.get("deployment_id"): p for p in (self.environment or {}).get("restore_points") or ()
        }
        kept = table.cursor_row
        table.clear()
        for found in self.deployments:
            table.add_row(
                f"#{found.get('number')}",
                str(found.get("app")),
                text.state(found.get("status")),
                text.when(found.get("created_at")),
                restore_point_cell(points.get(found.get("id"))),
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
        if await self._change(on_failure=on_failure):
            self.notify(f"on failure: {on_failure}")

    @on(Input.Submitted, "#restore-points-kept")
    def _kept(self, event: Input.Submitted) -> None:
        try:
            count = int(event.value)
        except ValueError:
            count = 0
        if not 1 <= count <= MOST_KEPT:
            self.notify(f"keep from 1 to {MOST_KEPT} restore points", severity="error")
            return
        self._save_kept(count)

    @work(group="change", description="save the restore points kept")
    async def _save_kept(self, count: int) -> None:
        if await self._change(restore_points_kept=count):
            self.notify(f"restore points kept per app: {count}")

    async def _change(self, **settings: Any) -> bool:
        """Save settings of the environment; whether the server took them."""
        try:
            self.environment = {
                **(self.environment or {}),
                **await self.dashboard.api(
                    lambda c: c.update_environment(self.env_name, **settings)
                ),
            }
        except ClientError as error:
            self.notify(error.message, severity="error")
            return False
        return True

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
