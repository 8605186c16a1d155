"""How the dashboard writes times, durations, states and progress: pure functions, so every
screen says them the same way and tests can check them without a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

FINAL_DEPLOYMENT = frozenset({"succeeded", "failed", "cancelled", "superseded"})
"""Deployment states nothing follows: the event stream ends after them."""

FINAL_STEP = frozenset({"succeeded", "failed", "skipped", "cancelled"})

STATE_STYLE = {
    "succeeded": "green",
    "running": "yellow",
    "applying": "yellow",
    "waiting_ready": "yellow",
    "waiting_for_input": "magenta",
    "failed": "red bold",
    "cancelled": "bright_black",
    "skipped": "bright_black",
    "superseded": "bright_black",
    "pending": "",
    "created": "cyan",
}


def parse_time(value: Any) -> datetime | None:
    """An ISO time from the API (`...Z`), aware; None when absent or not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """A time as `2026-11-28 10:34` (UTC, as the server gives it), `-` when there is none."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M") if parsed else "-"


def duration(seconds: float) -> str:
    """`0.4s`, `12s`, `3m05s`, `2h07m`: short enough for a table column."""
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def took(started: Any, finished: Any, now: datetime | None = None) -> str:
    """How long a step or deployment took (or has taken so far when `now` is given and it has
    not finished); empty when it never started."""
    begun = parse_time(started)
    if begun is None:
        return ""
    ended = parse_time(finished) or now
    return duration((ended - begun).total_seconds()) if ended else ""


def state(value: Any) -> str:
    """A state as Rich markup in its colour: `[green]succeeded[/]`."""
    text = str(value or "-")
    style = STATE_STYLE.get(text, "")
    return f"[{style}]{text}[/]" if style else text


def progress(steps: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(steps finished, steps in all): the deployment's overall progress."""
    listed = list(steps)
    return sum(1 for s in listed if s.get("status") in FINAL_STEP), len(listed)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
