"""`runway plan` and `runway schema` as a person runs them: output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runway.cli import main
from runway.planner import plan_source, plan_to_document

EXAMPLES = Path(__file__).parents[1] / "examples"
BLOG = EXAMPLES / "blog.yaml"


def run(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a person would type it."""
    runway = shutil.which("runway", path=str(Path(sys.executable).parent))
    assert runway is not None, "the runway console script is not installed"
    return subprocess.run(
        [runway, *argv], input=stdin.decode() if stdin else None, capture_output=True, text=True
    )


def test_plan_prints_steps_then_the_critical_path(capsys):
    assert main(["plan", str(BLOG)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "app blog: 4 steps"
    assert out[1].split() == ["step", "kind", "depth", "depends", "on", "asks"]
    assert out[2].split() == ["db", "service", "0", "-", "db_password"]
    assert out[3].split() == ["migrate", "job", "1", "db", "-"]
    assert out[4].split() == [
        "web",
        "service",
        "2",
        "migrate,",
        "db",
        "domain,",
        "admin_email,",
        "theme",
    ]
    assert out[6] == "critical path: db -> migrate -> web (3 steps)"


def test_plan_json_is_the_plan_document(capsys):
    assert main(["plan", "--json", str(BLOG)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(plan_to_document(plan_source(BLOG.read_bytes()))))


def test_an_invalid_configuration_lists_every_problem_on_stderr_and_exits_1():
    result = run("plan", str(EXAMPLES / "invalid" / "typo.yaml"))
    assert result.returncode == 1
    assert result.stdout == ""
    name = str(EXAMPLES / "invalid" / "typo.yaml")
    assert result.stderr.splitlines() == [
        f"{name}:6: services.web.replicas: expected an integer >= 0, got the text 'two'",
        f"{name}:6: services.web.depends_on[0]: unknown service 'dbb'; did you mean 'db'?",
        f"{name}:7: services.job.imag: unknown field 'imag'; did you mean 'image'?",
        f"{name}:7: services.job: missing required field 'image'",
        f"{name}: 4 problems; nothing planned",
    ]


def test_stdin_is_read_with_a_dash():
    result = run("plan", "-", stdin=BLOG.read_bytes())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("app blog: 4 steps\n")
    broken = run(
        "plan", "-", stdin=b"runway: 1\napp: a\nservices: {s: {image: x, depends_on: [t]}}\n"
    )
    assert broken.returncode == 1
    assert (
        broken.stderr.splitlines()[0] == "<stdin>:3: services.s.depends_on[0]: unknown service 't'"
    )


def test_a_missing_file_is_a_clear_error():
    result = run("plan", "/nonexistent/app.yaml")
    assert result.returncode == 1
    assert result.stderr == "runway: cannot read /nonexistent/app.yaml: No such file or directory\n"


@pytest.mark.parametrize(
    "argv", [[], ["plan"], ["plan", "a", "b"], ["nope"], ["plan", "--format", "toml", "x"]]
)
def test_usage_errors_exit_2(argv):
    result = run(*argv)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage:" in result.stderr


def test_hostile_input_gets_a_clear_error_and_no_traceback(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        previous = chr(ord("a") + i - 1)
        here = chr(ord("a") + i)
        levels.append(f"{here}: &{here} [" + ",".join(f"*{previous}" for _ in range(9)) + "]")
    bomb.write_text("\n".join(levels) + "\n")
    result = run("plan", str(bomb))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "anchors and aliases are not allowed" in result.stderr

    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00runway: 1")
    result = run("plan", str(binary))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not UTF-8" in result.stderr


def test_the_json_plan_of_a_large_configuration(tmp_path):
    wide = tmp_path / "wide.yaml"
    wide.write_text(
        subprocess.run(
            [sys.executable, str(EXAMPLES / "wide.py"), "20", "50", "3"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    result = run("plan", "--json", str(wide))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert len(document["steps"]) == 1000
    assert len(document["critical_path"]) == 20


def test_an_endless_stream_is_refused_after_the_limit():
    result = run("plan", "-", stdin=b"# " + b"x" * (2 * 1024 * 1024))
    assert result.returncode == 1
    assert "the limit is 1 MiB" in result.stderr


def test_broken_json_is_reported_as_json(tmp_path):
    broken = tmp_path / "app.json"
    broken.write_text('{"runway": 1,\n "app": "a"\n "services": {}}')
    result = run("plan", str(broken))
    assert result.stderr.splitlines()[0] == f"{broken}:3: not valid JSON: Expecting ',' delimiter"


def test_a_bad_environment_variable_of_serve_does_not_break_plan(monkeypatch):
    monkeypatch.setenv("RUNWAY_PORT", "abc")
    assert run("plan", str(BLOG)).returncode == 0
    serve = run("serve")
    assert serve.returncode == 2
    assert "Traceback" not in serve.stderr
    assert "--port" in serve.stderr


def test_serve_on_a_port_in_use_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"runway: cannot listen on 127.0.0.1:{port}")
    )
    assert "Traceback" not in result.stderr
