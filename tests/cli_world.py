"""The world the command-line tests of deployments share: `runway serve --kube sim` in a
subprocess, its first admin `ann` logged in with `runway login`, and helpers to run commands as
she types them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.test_serve import PASSWORD, RUNWAY, Server, no_traceback, runway, serving

EXAMPLES = Path(__file__).parents[1] / "examples"
BLOG = str(EXAMPLES / "blog.yaml")
HELLO = str(EXAMPLES / "hello.yaml")


@dataclass
class World:
    """A server with the simulated cluster, user `ann` logged in (in `config`)."""

    server: Server
    config: Path
    token: str
    files: Path

    def environment(self, name: str) -> str:
        made = httpx.post(
            f"{self.server.url}/api/v1/environments",
            json={"name": name},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert made.status_code == 201, made.text
        return name

    def run(self, *args: str, stdin: str = "", timeout: float = 90) -> subprocess.CompletedProcess:
        result = runway(*args, stdin=stdin, config_dir=self.config, timeout=timeout)
        no_traceback(result.stdout + result.stderr)
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """A command left running (stdin empty: not a terminal), its output readable by line."""
        return subprocess.Popen(
            [RUNWAY, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "RUNWAY_CONFIG_DIR": str(self.config)},
        )

    def file(self, name: str, text: str) -> str:
        path = self.files / name
        path.write_text(text)
        return str(path)

    def deployment(self, ident: int) -> dict:
        found = httpx.get(
            f"{self.server.url}/api/v1/deployments/{ident}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert found.status_code == 200, found.text
        return dict(found.json())


@contextmanager
def a_world(base: Path) -> Iterator[World]:
    """The server, its admin `ann` set up and logged in; every test module makes its own
    (a fixture of module scope around this), and each test its own environments."""
    with serving(base / "data", base / "serve.log", "--kube", "sim") as server:
        made = httpx.post(
            f"{server.url}/api/v1/setup",
            json={"setup_token": server.setup_token(), "username": "ann", "password": PASSWORD},
        )
        assert made.status_code == 201, made.text
        config = base / "config"
        login = runway(
            "login", server.url, "--user", "ann", "--password-stdin", stdin=PASSWORD + "\n",
            config_dir=config,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        files = base / "files"
        files.mkdir()
        yield World(server, config, made.json()["token"], files)
        no_traceback(server.output())


def created_id(stdout: str) -> int:
    """The id `runway deploy` prints first: `deployment ID (#N of APP in ENV): created`."""
    first = stdout.splitlines()[0]
    assert first.startswith("deployment ") and first.endswith(": created"), stdout
    return int(first.split()[1])
