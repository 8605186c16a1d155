"""The steps of a deployment in a table: state, what each waits for, how long it took, and
whether it is on the critical path (the longest chain, which bounds the whole deployment)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from textual.widgets import DataTable

from runway.tui import text

CRITICAL = "»"


class StepsTable(DataTable[str]):
    """One row per step, in plan order, keyed by the step's name."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_column(" ", key="critical", width=1)
        self.add_column("STEP", key="step")
        self.add_column("KIND", key="kind")
        self.add_column("STATUS", key="status")
        self.add_column("AFTER", key="after")
        self.add_column("TIME", key="time")

    def show(
        self, steps: Sequence[Mapping[str, Any]], critical: Sequence[str], now: datetime | None
    ) -> None:
        """Redraw with these steps; `now` times the steps still running (None: do not)."""
        kept = self.cursor_row
        self.clear()
        for step in steps:
            name = str(step.get("name"))
            self.add_row(
                CRITICAL if name in critical else "",
                name,
                str(step.get("kind") or ""),
                text.state(step.get("status")),
                ", ".join(str(d) for d in step.get("depends_on") or ()) or "-",
                text.took(step.get("started_at"), step.get("finished_at"), now),
                key=name,
            )
        if self.row_count:
            self.move_cursor(row=min(kept, self.row_count - 1))

    def highlighted(self) -> str | None:
        """The name of the step under the cursor."""
        if not self.row_count:
            return None
        return str(self.get_row_at(self.cursor_row)[1])
