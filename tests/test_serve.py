"""The real server as a person runs it: `runway serve` in a subprocess, its log, and the
commands people type next (`runway setup`, `runway login`, `runway passwd`)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.local_http import answers_ready

RUNWAY = str(Path(sys.executable).with_name("runway"))
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a much longer new passphrase"
TOKEN_LINE = re.compile(r"One-time setup token \(valid until [^)]*\): (rw_[A-Za-z0-9_-]+)")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def setup_token(self) -> str:
        found = TOKEN_LINE.findall(self.output())
        assert len(found) == 1, self.output()
        return found[0]

    def stop(self, how: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        return self.process.wait(timeout=15)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(data_dir: Path, log: Path, *flags: str) -> Iterator[Server]:
    """`runway serve --port P --data-dir DIR`, ready; stopped (SIGTERM) afterwards. Without a
    `--kube` flag it looks for a cluster where nobody has one (a fresh HOME, no KUBECONFIG)."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(data_dir / "home")}
    env.pop("KUBECONFIG", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RUNWAY, "serve", "--port", str(port), "--data-dir", str(data_dir), *flags],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 40  # a bound for a loaded machine, not a timing check
        while True:
            assert process.poll() is None, server.output()
            if answers_ready(server.url):
                break
            assert time.monotonic() < deadline, f"not ready in time:\n{server.output()}"
            time.sleep(0.05)
        yield server
    finally:
        server.stop()


def runway(*args: str, stdin: str = "", config_dir: Path | None = None, timeout: float = 30):
    env = {**os.environ}
    if config_dir is not None:
        env["RUNWAY_CONFIG_DIR"] = str(config_dir)
    return subprocess.run(
        [RUNWAY, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout
    )


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def test_a_person_sets_up_logs_in_and_changes_their_password(tmp_path: Path):
    config = tmp_path / "config"
    with serving(tmp_path / "data", tmp_path / "serve.log") as server:
        token = server.setup_token()
        assert f"POST {server.url}/api/v1/setup" in server.output()
        made = httpx.post(
            f"{server.url}/api/v1/setup",
            json={"setup_token": token, "username": "ann", "password": PASSWORD},
        )
        assert made.status_code == 201, made.text
        again = httpx.post(
            f"{server.url}/api/v1/setup",
            json={"setup_token": token, "username": "eve", "password": PASSWORD},
        )
        assert again.status_code == 409

        login = runway(
            "login", server.url, "--user", "ann", "--password-stdin", stdin=PASSWORD + "\n",
            config_dir=config,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        assert "logged in" in login.stdout
        stored = config / "credentials.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert not stat.S_IMODE(config.stat().st_mode) & 0o077
        saved = json.loads(stored.read_text())
        assert saved["url"] == server.url
        assert saved["username"] == "ann"
        session = saved["token"]
        me = httpx.get(f"{server.url}/api/v1/users/me", headers=_bearer(session))
        assert me.json()["name"] == "ann"

        wrong = runway(
            "passwd", "--password-stdin", stdin=f"not it at all\n{NEW_PASSWORD}\n",
            config_dir=config,
        )  # fmt: skip
        assert wrong.returncode == 1
        assert wrong.stderr.startswith("runway: the current password is wrong")
        changed = runway(
            "passwd", "--password-stdin", stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n", config_dir=config
        )
        assert changed.returncode == 0, changed.stderr
        old = httpx.post(
            f"{server.url}/api/v1/sessions", json={"username": "ann", "password": PASSWORD}
        )
        assert old.status_code == 401
        new = httpx.post(
            f"{server.url}/api/v1/sessions", json={"username": "ann", "password": NEW_PASSWORD}
        )
        assert new.status_code == 201
        # The session that changed it stays; the setup's session ended with the change.
        assert httpx.get(f"{server.url}/api/v1/users/me", headers=_bearer(session)).is_success
        first = made.json()["token"]
        assert httpx.get(f"{server.url}/api/v1/users/me", headers=_bearer(first)).status_code == 401

        log = server.output()
        for secret in (PASSWORD, NEW_PASSWORD, session, first, new.json()["token"]):
            assert secret not in log
        for result in (login, wrong, changed):
            assert PASSWORD not in result.stdout + result.stderr
            assert NEW_PASSWORD not in result.stdout + result.stderr
        no_traceback(log)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_setup_on_the_machine_works_once(tmp_path: Path):
    data = str(tmp_path / "data")
    first = runway(
        "setup", "--admin", "root", "--password-stdin", "--data-dir", data, stdin=PASSWORD
    )
    assert first.returncode == 0, first.stderr
    assert "admin 'root' created" in first.stdout
    second = runway(
        "setup", "--admin", "other", "--password-stdin", "--data-dir", data, stdin=PASSWORD
    )
    assert second.returncode == 1
    assert second.stderr == "runway: runway is set up already (a user exists); log in instead\n"
    token = runway("setup", "--new-token", "--data-dir", data)
    assert token.returncode == 1
    assert "set up already" in token.stderr
    for result in (first, second, token):
        no_traceback(result.stderr)
        assert PASSWORD not in result.stdout + result.stderr


def test_a_new_setup_token_made_before_the_server_starts_is_the_one_it_uses(tmp_path: Path):
    data = tmp_path / "data"
    made = runway("setup", "--new-token", "--data-dir", str(data))
    assert made.returncode == 0, made.stderr
    token = made.stdout.rsplit(" ", 1)[1].strip()
    with serving(data, tmp_path / "serve.log") as server:
        assert not TOKEN_LINE.findall(server.output())  # found a valid one: no other made
        assert "another instance made the setup token" in server.output()
        done = httpx.post(
            f"{server.url}/api/v1/setup",
            json={"setup_token": token, "username": "ann", "password": PASSWORD},
        )
        assert done.status_code == 201, done.text


def test_sigterm_shuts_the_server_down_gracefully(tmp_path: Path):
    with serving(tmp_path / "data", tmp_path / "serve.log") as server:
        server.stop(signal.SIGTERM)
        log = server.output()
    assert "Application shutdown complete" in log
    no_traceback(log)


def test_sigterm_closes_the_database_and_exits_0(tmp_path: Path):
    with serving(tmp_path / "data", tmp_path / "serve.log") as server:
        code = server.stop(signal.SIGTERM)
        log = server.output()
    assert "closed the database at" in log, log
    assert code == 0


def test_sigint_shuts_down_without_a_traceback(tmp_path: Path):
    with serving(tmp_path / "data", tmp_path / "serve.log") as server:
        code = server.stop(signal.SIGINT)
        log = server.output()
    assert code in (0, 130), code  # 130: the conventional status after Ctrl-C
    assert "Application shutdown complete" in log
    assert "closed the database at" in log
    no_traceback(log)


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path):
    result = runway(
        "serve", "--port", str(_free_port()), "--database-url", "postgresql://nobody@127.0.0.1:1/x"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "runway: cannot reach the database at postgresql://nobody@127.0.0.1:1/x"
    )
    no_traceback(result.stderr + result.stdout)


def test_without_a_cluster_the_server_still_serves_and_says_so(tmp_path: Path):
    with serving(tmp_path / "data", tmp_path / "log") as server:
        cluster = httpx.get(f"{server.url}/healthz").json()["cluster"]
        assert cluster["configured"] is False
        assert "--kube sim" in cluster["problem"]
        assert "no cluster" in server.output()


def test_kube_sim_runs_the_simulated_cluster_beside_the_server(tmp_path: Path):
    with serving(tmp_path / "data", tmp_path / "log", "--kube", "sim") as server:
        cluster = httpx.get(f"{server.url}/healthz").json()["cluster"]
        assert (cluster["configured"], cluster["simulated"], cluster["reachable"]) == (
            True,
            True,
            True,
        )
        assert "deployments go to the simulated cluster" in server.output()
        assert server.stop() == 0
    no_traceback(server.output())


def test_sigterm_ends_open_event_streams_and_stops_within_seconds(tmp_path: Path):
    """A dashboard or `deploy --follow` left connected must not hold a stopping server up:
    its stream ends (the client resumes elsewhere with Last-Event-ID) and the server exits."""
    import threading

    with serving(tmp_path / "data", tmp_path / "serve.log", "--kube", "sim") as server:
        made = httpx.post(
            f"{server.url}/api/v1/setup",
            json={"setup_token": server.setup_token(), "username": "ann", "password": PASSWORD},
        )
        auth = {"Authorization": f"Bearer {made.json()['token']}"}
        httpx.post(f"{server.url}/api/v1/environments", json={"name": "one"}, headers=auth)
        hello = (Path(__file__).parents[1] / "examples" / "hello.yaml").read_bytes()
        created = httpx.post(
            f"{server.url}/api/v1/environments/one/deployments",
            content=hello,
            headers={**auth, "Content-Type": "application/yaml"},
        )
        assert created.status_code == 201, created.text
        url = f"{server.url}/api/v1/deployments/{created.json()['id']}/events"
        lines: list[str] = []
        opened, ended = threading.Event(), threading.Event()

        def follow() -> None:
            with httpx.stream("GET", url, headers=auth, timeout=60) as response:
                for line in response.iter_lines():
                    lines.append(line)
                    opened.set()
            ended.set()

        threading.Thread(target=follow, daemon=True).start()
        assert opened.wait(20), "the stream did not begin"
        began = time.monotonic()
        code = server.stop(signal.SIGTERM)
        took = time.monotonic() - began
        assert ended.wait(5), "the stream is still open"
    assert code == 0
    assert took < 4.0, f"stopping took {took:.1f} s with a stream open"
    assert any(line.startswith("event: deployment") for line in lines)
