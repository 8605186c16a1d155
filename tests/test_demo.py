"""`runway demo` as a person runs it on a fresh machine: one command, then what it printed is
enough to log in, find the blog example waiting, start it, answer its questions and see it
succeed; Ctrl-C ends it cleanly, and the password never reaches runway's log."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runway.cli.demoing import BLOG

RUNWAY = str(Path(sys.executable).with_name("runway"))
ROOT = Path(__file__).parents[1]
READY = "Ctrl-C stops the demo."
FINAL = {"succeeded", "failed", "cancelled", "superseded"}


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def terminal(self) -> str:
        """What it printed for the person (stdout)."""
        return self.out.read_text(errors="replace")

    def log(self) -> str:
        """runway's log (stderr)."""
        return self.err.read_text(errors="replace")

    def printed(self, pattern: str) -> str:
        found = re.search(pattern, self.terminal(), re.MULTILINE)
        assert found is not None, f"{pattern!r} not printed:\n{self.terminal()}"
        return found.group(1)

    def stop(self, how: int) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        return self.process.wait(timeout=30)


@contextmanager
def demo(tmp_path: Path, *flags: str, name: str = "demo") -> Iterator[Demo]:
    """`runway demo --port 0 FLAGS`, until it printed what to try (its temporary data dir in
    tmp_path: TMPDIR). Stopped at the end if the test did not stop it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path / "home")}
    env["TMPDIR"] = str(tmp_path)
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [RUNWAY, "demo", "--port", "0", *flags], stdout=stdout, stderr=stderr, env=env
        )
    running = Demo(process, out, err)
    try:
        deadline = time.monotonic() + 60
        while READY not in running.terminal():
            assert process.poll() is None, running.log()
            assert time.monotonic() < deadline, f"not ready in time:\n{running.log()}"
            time.sleep(0.05)
        yield running
    finally:
        running.stop(signal.SIGKILL)


def _until(client: httpx.Client, path: str, done: Any, seconds: float = 90) -> dict[str, Any]:
    """GET path until done(body); the last body."""
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = client.get(path).raise_for_status().json()
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_a_person_runs_the_demo_and_deploys_the_blog_with_what_it_printed(tmp_path: Path):
    with demo(tmp_path) as running:
        url = running.printed(r"^\s*API\s+(http://\S+)/api/v1")
        password = running.printed(r"^\s*Password\s+(\S+)")
        data = Path(running.printed(r"^\s*Data\s+(\S+)"))
        assert data.parent == tmp_path and data.is_dir()
        assert f"login {url} --user admin" in running.terminal()
        assert "status demo" in running.terminal()

        with httpx.Client(base_url=url, timeout=30) as client:
            session = client.post(
                "/api/v1/sessions", json={"username": "admin", "password": password}
            )
            assert session.status_code == 201, session.text
            client.headers["Authorization"] = f"Bearer {session.json()['token']}"

            environment = client.get("/api/v1/environments/demo").raise_for_status().json()
            (waiting,) = client.get("/api/v1/environments/demo/deployments").json()["items"]
            assert (waiting["app"], waiting["status"]) == ("blog", "created")
            assert [app["name"] for app in environment["apps"]] == ["blog"]
            assert f"start {waiting['id']}" in running.terminal()

            started = client.post(f"/api/v1/deployments/{waiting['id']}/start")
            assert started.status_code == 200, started.text
            path = f"/api/v1/deployments/{waiting['id']}"
            asking = _until(client, path, lambda d: d["status"] != "running")
            assert asking["status"] == "waiting_for_input", asking
            assert {q["name"] for q in asking["questions"] if not q["answered"]} >= {"db_password"}

            answers = {
                "domain": "blog.example.org",
                "admin_email": "ann@example.org",
                "db_password": {"generate": True},
            }
            answered = client.post(f"{path}/inputs", json=answers)
            assert answered.status_code < 300, answered.text
            finished = _until(client, path, lambda d: d["status"] in FINAL)
            assert finished["status"] == "succeeded", finished
            assert {s["name"]: s["status"] for s in finished["steps"]} == dict.fromkeys(
                ("db", "migrate", "web", "worker"), "succeeded"
            )

        assert running.stop(signal.SIGINT) == 0
        assert "Traceback" not in running.log() + running.terminal()
        assert password not in running.log()
        assert not data.exists(), "the temporary data dir outlived the demo"


def test_sigterm_ends_it_cleanly_and_a_kept_data_dir_is_not_given_a_new_password(
    tmp_path: Path,
):
    kept = tmp_path / "kept"
    with demo(tmp_path, "--data-dir", str(kept)) as first:
        password = first.printed(r"^\s*Password\s+(\S+)")
        assert first.stop(signal.SIGTERM) == 0
    assert "Traceback" not in first.log()
    assert (kept / "runway.db").is_file()

    with demo(tmp_path, "--data-dir", str(kept), name="again") as again:
        assert "Password" not in again.terminal()
        assert "users exist already" in again.terminal()
        with httpx.Client(base_url=again.printed(r"ready at (http://\S+),")) as client:
            login = {"username": "admin", "password": password}
            assert client.post("/api/v1/sessions", json=login).status_code == 201
        assert again.stop(signal.SIGINT) == 0
    assert kept.is_dir()


def test_a_port_in_use_is_one_clear_line_and_exit_1(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
        result = subprocess.run(
            [RUNWAY, "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"runway: cannot listen on 127.0.0.1:{port}: "), result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing is left behind"


def test_the_embedded_blog_is_the_shipped_example():
    assert (ROOT / "examples" / "blog.yaml").read_text() == BLOG
