"""A person in Chromium: log in, open a monitor URL, answer the questions, start, and watch the
deployment succeed. The terminal draws on a canvas, so the test reads the terminal bytes the
page received (an init script records the websocket's frames). Its screenshots are kept as
artifacts, in `artifacts/browser/` of the checkout (or `$RUNWAY_TEST_ARTIFACTS/browser/`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_serve import PASSWORD
from tests.tui.world import World
from tests.web.world import screen_text

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("RUNWAY_TEST_ARTIFACTS") or Path(__file__).parents[2] / "artifacts")

# Every binary frame the page receives, kept as numbers for the test to read back; and the
# page's state when each websocket was opened.
RECORD_FRAMES = """
(() => {
  window.__frames = [];
  window.__sockets = [];
  const Original = window.WebSocket;
  window.WebSocket = function (...args) {
    window.__sockets.push(document.readyState);
    const socket = new Original(...args);
    socket.addEventListener("message", (event) => {
      if (event.data instanceof ArrayBuffer) {
        window.__frames.push(Array.from(new Uint8Array(event.data)));
      }
    });
    return socket;
  };
  window.WebSocket.prototype = Original.prototype;
})();
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        print(reason)
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as missing:
        print(f"playwright is not installed: {missing}")
        pytest.skip(f"playwright is not installed: {missing}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        yield browser
        browser.close()


class Screen:
    """What the page's terminal received, as text."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def text(self) -> str:
        frames = self.page.evaluate("window.__frames")
        return screen_text(b"".join(bytes(frame) for frame in frames))

    def wait_for(self, *words: str, timeout: float = 30) -> str:
        self.page.wait_for_function(
            "(words) => { const d = new TextDecoder();"
            " const all = window.__frames.map(f => d.decode(new Uint8Array(f))).join('');"
            " const text = all.replace(/\\x1b\\[[0-9;?<>=]*[A-Za-z]/g, '');"
            " return words.every(w => text.includes(w)); }",
            arg=list(words),
            polling=100,  # not every animation frame: decoding all frames is work of its own
            timeout=timeout * 1000,
        )
        return self.text()

    def quiet(self, seconds: float = 1.0, timeout: float = 30) -> None:
        """Wait until no frame but small ones (a cursor blinking) has come for `seconds`: the
        app has done what it was doing (reading the deployment's events, say) and takes keys
        where the screen shows."""
        self.page.wait_for_function(
            "(ms) => { const n = window.__frames.filter(f => f.length > 100).length;"
            " const now = performance.now();"
            " const q = window.__quiet;"
            " if (!q || q.n !== n) { window.__quiet = {n: n, at: now}; return false; }"
            " return now - q.at >= ms; }",
            arg=seconds * 1000,
            polling=100,
            timeout=timeout * 1000,
        )


def test_a_person_answers_starts_and_watches_it_succeed_in_chromium(
    world: World, chromium: Any
) -> None:
    shots = ARTIFACTS / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    env = world.environment("in-chromium")
    ident = world.deploy(env)
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    page.add_init_script(RECORD_FRAMES)
    try:
        page.goto(f"{world.url}/ui/deployments/{ident}")
        assert "/ui/login" in page.url
        page.fill("input[name=username]", "ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/ui/deployments/{ident}")
        screen = Screen(page)
        screen.wait_for("domain", "Send answers")
        # One websocket, opened by runway's page while it still loads (allowed by its CSP),
        # which textual.js took over: not a second one once textual.js had started xterm.
        assert page.evaluate("window.__sockets") == ["loading"]
        page.screenshot(path=str(shots / "questions.png"))
        page.click("#terminal")
        screen.quiet()
        keys = page.keyboard
        keys.press("Tab")  # to the first question
        page.wait_for_timeout(300)
        keys.type("blog.example.com", delay=20)
        page.wait_for_timeout(300)  # typed text arrives as screen diffs, not whole words
        keys.press("Tab")
        page.wait_for_timeout(300)
        keys.type("ann@example.com", delay=20)
        page.wait_for_timeout(300)
        keys.press("Tab")
        keys.press("Tab")  # past the password field, to its Generate button
        keys.press("Enter")
        screen.wait_for("runway will generate")
        keys.press("Control+s")
        screen.wait_for("answers sent")
        assert all(q["answered"] for q in world.deployment(ident)["questions"])
        keys.press("s")
        screen.wait_for("Start")
        keys.press("y")
        screen.wait_for("succeeded (4/4 steps)", timeout=90)
        assert world.deployment(ident)["status"] == "succeeded"
        page.screenshot(path=str(shots / "succeeded.png"))
        page.click("#bar button")  # Log out
        page.wait_for_url("**/ui/login")
        page.goto(f"{world.url}/ui/deployments/{ident}")
        assert "/ui/login" in page.url
    finally:
        page.screenshot(path=str(shots / "last.png"))
        print(f"screenshots in {shots}")
        page.close()
