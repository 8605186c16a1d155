"""`runway tui` in a real terminal (tmux, 80x24): a person logged in with `runway login` sees
their environments and the state of their latest deployment."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_serve import PASSWORD, RUNWAY, runway
from tests.tui.world import World, wait_for

NO_TMUX = shutil.which("tmux") is None


@pytest.mark.skipif(NO_TMUX, reason="tmux is not installed")
def test_runway_tui_shows_the_deployment_list(world: World, tmp_path: Path):
    env = world.environment("terminal")
    world.deploy(env)
    config = tmp_path / "config"
    login = runway(
        "login", world.url, "--user", "ann", "--password-stdin", stdin=PASSWORD + "\n",
        config_dir=config,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    socket = f"runway-test-{secrets.token_hex(4)}"
    tmux = ["tmux", "-L", socket]
    environment = {**os.environ, "RUNWAY_CONFIG_DIR": str(config), "TERM": "xterm-256color"}
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "80", "-y", "24", "-s", "tui", RUNWAY, "tui"],
        check=True, env=environment,
    )  # fmt: skip
    try:

        def screen() -> str:
            shown = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", "tui"], capture_output=True, text=True
            )
            return shown.stdout

        wait_for(lambda: "terminal" in screen() and "created" in screen(), "the list", 60)
        shown = screen()
        row = next(line for line in shown.splitlines() if "terminal" in line)
        assert row.split()[:3] == ["terminal", "blog", "#1"], shown
        assert "Environments" in shown
        assert "Traceback" not in shown

        subprocess.run([*tmux, "send-keys", "-t", "tui", "q"], check=True)
        wait_for(
            lambda: subprocess.run([*tmux, "has-session", "-t", "tui"]).returncode != 0,
            "runway tui to quit on q",
            30,
        )
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def test_runway_tui_without_a_server_says_what_to_run(tmp_path: Path):
    done = runway("tui", config_dir=tmp_path / "nobody")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "runway: no server yet; run: runway tui --url URL (or runway login URL --user NAME)\n"
    )
