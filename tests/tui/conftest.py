"""Fixtures of the dashboard's tests: a real server per module, Pilot helpers."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from tests.tui.world import World, a_world


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with a_world(tmp_path_factory.mktemp("tui")) as made:
        yield made


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as text (for failure messages)."""
    console = Console(
        width=app.size.width, height=app.size.height, file=io.StringIO(), record=True,
        force_terminal=True, legacy_windows=False, safe_box=False,
    )  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def until(
    app: App[Any], condition: Callable[[], Any], what: str, timeout: float = 60.0
) -> Any:
    """Let the app run until `condition()` is true (its value), or fail saying `what`: tests
    wait for what a person would see, never for a fixed time. A screen just pushed is seen once
    it is mounted (its widgets composed): what the test reads next is there."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = condition() if app.screen.is_mounted else None
        except Exception:  # a widget not mounted yet counts as not there
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen_text(app)}")
        await asyncio.sleep(0.05)


async def press_button(pilot: Pilot[Any], selector: str) -> None:
    """Press a button as from the keyboard (focus, Enter): a click aims at where the button
    was drawn last, which a line appearing above it (a refusal) may just have moved."""
    pilot.app.screen.query_one(selector).focus()
    await pilot.press("enter")
