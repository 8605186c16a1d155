"""What the account and admin screens share: a title over tabs of tables and short forms, read
from the server when the screen opens and again after each change it makes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import PurePath
from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent

from runway.client import Client, ClientError
from runway.tui.widgets.banner import ConnectionBanner

if TYPE_CHECKING:
    from runway.tui.app import Dashboard


class TabbedScreen(Screen[None]):
    """A titled screen of tabs: subclasses give the title (`HEADING`), the tabs
    (`compose_tabs`), what reading the server fills in (`_load`) and their keys (`BINDINGS`,
    in the order the key panel lists them)."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["tabbed.tcss", "../widgets/edit.tcss"]
    HEADING: ClassVar[str]

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        yield Static(self.HEADING, id="title", classes="heading")
        with TabbedContent(id="tabs"):
            yield from self.compose_tabs()
        yield Footer()

    def compose_tabs(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self._load()

    def _load(self) -> object:
        """Read the server into the screen's reactive attributes (a worker, in subclasses)."""
        raise NotImplementedError

    def _fill(self, selector: str, rows: Iterable[tuple[str, ...]]) -> None:
        """The table's rows (each row's last value is its key), the cursor kept in place."""
        table = self.query_one(selector, DataTable)
        kept = table.cursor_row
        table.clear()
        for *cells, key in rows:
            table.add_row(*cells, key=key)
        if table.row_count:
            table.move_cursor(row=min(kept, table.row_count - 1))

    @work(group="change", description="change")
    async def _call(self, call: Callable[[Client], Awaitable[object]], done: str) -> None:
        """One change on the server: `done` in a notification and the screen read again, or
        the server's refusal in an error notification."""
        try:
            await self.dashboard.api(call)
        except ClientError as error:
            self.notify(error.message or error.code, severity="error")
            return
        self.notify(done)
        self.action_refresh()

    def _call_once_confirmed(
        self,
        dialog: ModalScreen[bool],
        call: Callable[[Client], Awaitable[object]],
        done: str,
    ) -> None:
        """The change (`_call`) made only when the person answers yes in `dialog`."""

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._call(call, done)

        self.app.push_screen(dialog, confirmed)
