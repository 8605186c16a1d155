"""Container logs, read live from the cluster through the server: a service's (followed while
it runs) or a step's (read once, e.g. to see why it failed)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog, Static

from runway.client import Client, ClientError
from runway.tui.widgets.banner import ConnectionBanner

if TYPE_CHECKING:
    from runway.tui.app import Dashboard

Lines = Callable[[Client], AsyncGenerator[str, None]]


class LogsScreen(Screen[None]):
    """Log lines as they come; Escape goes back (and stops reading)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]
    DEFAULT_CLASSES = "logs"

    def __init__(self, title: str, lines: Lines) -> None:
        super().__init__()
        self.title_text, self.lines = title, lines

    @classmethod
    def of_service(cls, env: str, app: str, service: str) -> LogsScreen:
        return cls(
            f"Logs of {app}/{service} in {env} (live)",
            lambda c: c.service_logs(env, app, service, follow=True),
        )

    @classmethod
    def of_step(cls, deployment: int, step: str) -> LogsScreen:
        return cls(f"Logs of step {step}", lambda c: c.step_logs(deployment, step))

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        yield Static(self.title_text, classes="heading")
        yield RichLog(id="log", wrap=True, markup=False, highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        self._follow()

    @work(exclusive=True)
    async def _follow(self) -> None:
        log = self.query_one("#log", RichLog)
        try:
            async for line in self.lines(self.dashboard.client):
                log.write(line)
        except ClientError as error:
            log.write(f"-- {error.message or error.code}")
            return
        log.write("-- end of the logs")
