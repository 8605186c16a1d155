"""A screen that reads its data when it is shown and again every few seconds while it is the
one on top (the environments, an environment)."""

from __future__ import annotations

from textual.screen import Screen

REFRESH = 5.0
"""Seconds between two reads of a screen on top."""


class PolledScreen(Screen[None]):
    """Calls `action_refresh` when shown and every REFRESH seconds while current; subclasses
    say what refreshing reads."""

    def on_mount(self) -> None:
        self.set_interval(REFRESH, self._poll)

    def on_screen_resume(self) -> None:
        """Read when shown: first, and back from a screen that may have changed things."""
        self.action_refresh()

    def _poll(self) -> None:
        """Read again while shown; a screen under another one waits until it is back."""
        if self.is_current:
            self.action_refresh()

    def action_refresh(self) -> None:
        raise NotImplementedError
