"""The line every screen shows while the server cannot be reached."""

from __future__ import annotations

from textual.widgets import Static


class ConnectionBanner(Static):
    """Shows the app's `problem` (empty: hidden). Watches the app's attribute: the screens
    never set it themselves."""

    def on_mount(self) -> None:
        self.watch(self.app, "problem", self._show)

    def _show(self, problem: str) -> None:
        self.update(problem)
        self.set_class(bool(problem), "-shown")
