"""Deploying from the command line, as a person does it: `runway serve --kube sim` in a
subprocess, `runway login`, then `runway deploy / answer / start / cancel / status / logs`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli_world import BLOG, HELLO, World, a_world, created_id
from tests.test_serve import RUNWAY, no_traceback, runway
from tests.test_serve import _free_port as free_port


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with a_world(tmp_path_factory.mktemp("deploying")) as made:
        yield made


def test_deploy_start_follow_prints_progress_and_exits_0(world: World):
    env = world.environment("blog-ok")
    answers = world.file(
        "answers.yaml", "admin_email: ann@example.com\ndb_password: {generate: true}\n"
    )
    done = world.run(
        "deploy", BLOG, "--env", env, "--input", "domain=blog.example.com",
        "--input-file", answers, "--start", "--follow",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    ident = created_id(done.stdout)
    assert f"  monitor: {world.server.url}/ui/deployments/{ident}" in lines
    assert "  answered: admin_email, db_password, domain" in lines
    for step in ("db", "migrate", "web", "worker"):
        assert f"  {step}: applying" in lines
        assert f"  {step}: succeeded" in lines
    assert lines.index("  db: succeeded") < lines.index("  migrate: applying")
    assert lines[-1] == "deployment succeeded"
    assert world.deployment(ident)["status"] == "succeeded"


def test_a_deployment_that_fails_exits_1_with_its_reason(world: World):
    env = world.environment("broken")
    config = world.file(
        "broken.yaml",
        "runway: 1\napp: broken\nservices:\n  web:\n    image: ghcr.io/example/hello:pullfail\n"
        "    ports: [8080]\n",
    )
    done = world.run("deploy", config, "--env", env, "--start", "--follow", timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    ident = created_id(done.stdout)
    assert "  web: failed" in "\n".join(done.stdout.splitlines()), done.stdout
    assert done.stdout.splitlines()[-1].startswith("deployment failed")
    found = world.deployment(ident)
    assert found["status"] == "failed"
    reason = found["reason"] or found["steps"][0]["reason"]
    assert done.stderr.startswith(f"runway: deployment {ident} failed: ")
    assert reason in done.stderr


def test_start_and_cancel_twice_say_why_the_second_time(world: World):
    env = world.environment("changes")
    made = world.run("deploy", HELLO, "--env", env)
    assert made.returncode == 0, made.stderr
    ident = created_id(made.stdout)
    started = world.run("start", str(ident))
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith(f"deployment {ident}: running")
    again = world.run("start", str(ident))
    assert again.returncode == 1
    assert again.stderr.startswith("runway: the deployment is ")
    assert "cannot become running" in again.stderr
    assert len(again.stderr.splitlines()) == 1, again.stderr

    other = created_id(world.run("deploy", BLOG, "--env", env).stdout)
    cancelled = world.run("cancel", str(other))
    assert (cancelled.returncode, cancelled.stdout) == (0, f"deployment {other}: cancelled\n")
    twice = world.run("cancel", str(other))
    assert twice.returncode == 1
    assert twice.stderr == (
        "runway: the deployment is cancelled, so it cannot become cancelled "
        "(it can become nothing: it is final)\n"
    )


def test_status_shows_environments_then_an_apps_services(world: World):
    env = world.environment("shown")
    answers = world.file("shown.json", json.dumps({"db_password": {"generate": True}}))
    done = world.run(
        "deploy", BLOG, "--env", env, "--input", "domain=shown.example.com",
        "--input", "admin_email=a@example.com", "--input-file", answers, "--start", "--follow",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = world.run("status")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "ENVIRONMENT", "OWNER", "ON", "FAILURE", "NAMESPACE", "CREATED",
    ]  # fmt: skip
    assert any(line.split()[:2] == [env, "ann"] for line in listed.stdout.splitlines())

    shown = world.run("status", env)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines() if line.strip()}
    assert rows["web"] == ["web", "service", "succeeded", "#1", "http://shown.example.com/"]
    assert rows["migrate"][:3] == ["migrate", "job", "succeeded"]
    assert rows["db"][:3] == ["db", "service", "succeeded"]
    assert "app blog: latest deployment #1 succeeded" in shown.stdout

    missing = world.run("status", "nowhere")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.startswith("runway: ") and "nowhere" in missing.stderr

    logs = world.run("logs", env, "blog/migrate")
    assert logs.returncode == 0, logs.stderr
    assert "simulated run of ghcr.io/example/blog:2.3.0 completed" in logs.stdout
    none = world.run("logs", env, "blog/nothing")
    assert none.returncode == 1
    assert "nothing" in none.stderr


def test_an_invalid_configuration_lists_every_problem_one_per_line(world: World):
    env = world.environment("invalid")
    config = world.file(
        "invalid.yaml",
        "runway: 1\napp: bad\nservices:\n  web:\n    image: x\n    depends_on: [nope]\n"
        "    replicas: -1\n",
    )
    done = world.run("deploy", config, "--env", env)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith("runway: the configuration has 2 problems"), done.stderr
    assert lines[1].startswith("  services.web.")
    assert lines[2].startswith("  services.web.")
    assert len(lines) == 3


def test_refused_answers_are_listed_and_nothing_starts(world: World):
    env = world.environment("refused")
    done = world.run(
        "deploy", BLOG, "--env", env, "--input", "domain=Not A Host", "--input", "colour=red",
        "--start",
    )  # fmt: skip
    assert done.returncode == 1
    ident = created_id(done.stdout)
    lines = done.stderr.splitlines()
    assert lines[0] == "runway: 2 answers are not acceptable"
    assert lines[1].startswith("  domain: 'Not A Host' does not match the pattern")
    assert lines[2].startswith("  colour: unknown input 'colour'")
    assert world.deployment(ident)["status"] == "created"


def test_without_a_terminal_follow_says_where_to_answer(world: World):
    env = world.environment("pointed")
    follow = world.popen("deploy", BLOG, "--env", env, "--start", "--follow")
    assert follow.stdout is not None
    seen = []
    for line in follow.stdout:
        seen.append(line)
        if line.startswith("  or: runway answer "):
            break
    text = "".join(seen)
    ident = created_id(text)
    assert f"  answer at {world.server.url}/ui/deployments/{ident}\n" in text
    assert f"  or: runway answer {ident} --input db_password=VALUE\n" in text
    answered = world.run("answer", str(ident), "--input", "db_password=s3cret-value")
    assert answered.returncode == 0, answered.stderr
    for line in follow.stdout:
        seen.append(line)
        if "--input domain=VALUE --input admin_email=VALUE" in line:
            break
    answered = world.run(
        "answer", str(ident), "--input", "domain=p.example.com", "--input", "admin_email=a@b.c"
    )
    assert answered.returncode == 0, answered.stderr
    rest, errors = follow.communicate(timeout=90)
    assert follow.returncode == 0, rest + errors
    assert rest.splitlines()[-1] == "deployment succeeded"
    assert "s3cret-value" not in "".join(seen) + rest + errors


class Answering(BaseHTTPRequestHandler):
    """Something that is not runway on a port: JSON of another shape, or a web page; and logs
    that are followed for ever (a line, then silence until the client goes)."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.endswith("/logs?follow=1"):
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"a first line\n")
            self.wfile.flush()
            self.rfile.read(1)  # until the client closes the connection
            return
        html = self.path.startswith("/api/v1/environments")
        body = b"<html>hello</html>" if html else b'{"hello": "world"}'
        self.send_response(200)
        self.send_header("content-type", "text/html" if html else "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_runway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def credentials(folder: Path, url: str, token: str = "rw_not_a_real_token") -> Path:
    folder.mkdir()
    (folder / "credentials.json").write_text(
        json.dumps({"url": url, "token": token, "username": "ann"})
    )
    return folder


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    assert result.stdout == ""
    no_traceback(result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("runway: ")
    return lines[0]


def test_a_dead_server_a_wrong_token_and_a_stranger_are_one_line_each(
    world: World, not_runway: str, tmp_path: Path
):
    dead = credentials(tmp_path / "dead", f"http://127.0.0.1:{free_port()}")
    for argv in (("status",), ("start", "1"), ("deploy", HELLO, "--env", "x", "--follow")):
        line = one_line(runway(*argv, config_dir=dead))
        assert line.startswith("runway: cannot reach http://127.0.0.1:"), line

    wrong = credentials(tmp_path / "wrong", world.server.url)
    for argv in (("status",), ("cancel", "1"), ("logs", "staging", "blog/web", "--follow")):
        line = one_line(runway(*argv, config_dir=wrong))
        assert line.endswith(f"; log in again: runway login {world.server.url} --user NAME"), line

    stranger = credentials(tmp_path / "stranger", not_runway)
    for argv in (("status",), ("start", "1"), ("deploy", HELLO, "--env", "x", "--start")):
        line = one_line(runway(*argv, config_dir=stranger))
        assert line.startswith(f"runway: {not_runway} gave an"), line
        assert line.endswith("is it runway?"), line


def test_without_a_login_or_for_another_server_it_says_what_to_run(tmp_path: Path):
    nobody = tmp_path / "nobody"
    line = one_line(runway("status", config_dir=nobody))
    assert line == "runway: not logged in; run: runway login URL --user NAME"
    elsewhere = credentials(tmp_path / "elsewhere", "http://127.0.0.1:9")
    line = one_line(runway("status", "--url", "http://other.example", config_dir=elsewhere))
    assert line == (
        "runway: not logged in to http://other.example; "
        "run: runway login http://other.example --user NAME"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("deploy", "x.yaml"),  # no --env
        ("deploy", "x.yaml", "--env", "e", "--input", "novalue"),
        ("start", "abc"),
        ("cancel",),
        ("logs", "env", "just-an-app"),
        ("logs", "env", "app/service/extra"),
    ],
)
def test_usage_errors_exit_2(argv: tuple[str, ...], tmp_path: Path):
    result = runway(*argv, config_dir=tmp_path)
    assert result.returncode == 2, result
    no_traceback(result.stderr)


def test_unreadable_files_are_named(tmp_path: Path):
    config = credentials(tmp_path / "config", "http://127.0.0.1:9")
    missing = one_line(
        runway("deploy", str(tmp_path / "nope.yaml"), "--env", "e", config_dir=config)
    )
    assert missing == f"runway: cannot read {tmp_path / 'nope.yaml'}: No such file or directory"
    answers = tmp_path / "answers.yaml"
    answers.write_text("- a list\n- not a mapping\n")
    line = one_line(
        runway("deploy", HELLO, "--env", "e", "--input-file", str(answers), config_dir=config)
    )
    assert line == f"runway: {answers}: expected a mapping of input names to answers"


def lines_until(process: subprocess.Popen[str], start: str) -> str:
    """What the command printed, up to the first line that starts with `start`."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(start):
            return "".join(seen)
    raise AssertionError(f"no line starting {start!r} in:\n{''.join(seen)}")


def test_ctrl_c_stops_following_a_deployment_with_130_and_it_goes_on(world: World):
    env = world.environment("interrupted")
    following = world.popen("deploy", BLOG, "--env", env, "--start", "--follow")
    ident = created_id(lines_until(following, "  or: runway answer "))
    following.send_signal(signal.SIGINT)
    _, errors = following.communicate(timeout=30)
    assert following.returncode == 130
    assert errors.strip() == (
        f"runway: stopped following; deployment {ident} goes on (runway cancel {ident} stops it)"
    )
    assert world.deployment(ident)["status"] == "waiting_for_input"


def test_ctrl_c_ends_followed_logs_quietly_with_0(not_runway: str, tmp_path: Path):
    config = credentials(tmp_path / "config", not_runway)
    logs = subprocess.Popen(
        [RUNWAY, "logs", "staging", "blog/web", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUNWAY_CONFIG_DIR": str(config)},
    )
    assert lines_until(logs, "a first line") == "a first line\n"  # printed as it came
    logs.send_signal(signal.SIGINT)
    out, errors = logs.communicate(timeout=30)
    assert (logs.returncode, out, errors) == (0, "", "")
