"""`runway deploy --follow` at a terminal (a pseudo-terminal here): questions asked as steps
wait, a refused answer asked again, a secret read without echo."""

from __future__ import annotations

import os
import pty
import re
import select
import time
from collections.abc import Iterator

import pytest

from tests.cli_world import BLOG, World, a_world
from tests.test_serve import RUNWAY, no_traceback


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with a_world(tmp_path_factory.mktemp("deploying")) as made:
        yield made


SECRET = "pty-Secret-4711"


class Terminal:
    """A command in a pseudo-terminal of its own: what it wrote, and typing into it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal, as getpass needs
            os.execve(argv[0], argv, env)
        self.seen = ""
        self.transcript = ""

    def expect(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait until the output (since the last match) matches `pattern`."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.seen)
            if found:
                self.seen = self.seen[found.end() :]
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in:\n{self.seen}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child ended and closed the terminal
                    chunk = b""
                assert chunk, f"ended without {pattern!r}:\n{self.seen}"
                self.transcript += chunk.decode(errors="replace")
                self.seen += chunk.decode(errors="replace")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\n")

    def exit_code(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                self.transcript += chunk.decode(errors="replace")
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"still running:\n{self.transcript}")


def test_follow_at_a_terminal_asks_the_questions_and_succeeds(world: World):
    env = world.environment("terminal")
    terminal = Terminal(
        [RUNWAY, "deploy", BLOG, "--env", env, "--start", "--follow"],
        {**os.environ, "RUNWAY_CONFIG_DIR": str(world.config), "TERM": "dumb"},
    )
    ident = int(terminal.expect(r"deployment (\d+) \(#1 of blog in terminal\): created")[1])
    terminal.expect(r"\? Password of the blog's database user \[db_password, secret\]")
    terminal.expect(r"generate a value \(24 characters\)\? \[Y/n\] ")
    terminal.type("n")
    terminal.expect(r"db_password \(not shown\): ")
    terminal.type(SECRET)
    terminal.expect(r"answered db_password")
    terminal.expect(r"\? Public host name of the blog \[domain, string\]")
    terminal.expect(r"domain: ")
    terminal.type("Not A Host")
    terminal.expect(r"\? E-mail address of the first administrator \[admin_email, string\]")
    terminal.expect(r"admin_email: ")
    terminal.type("ann@example.com")
    terminal.expect(r"domain: 'Not A Host' does not match the pattern")
    terminal.expect(r"domain: ")
    terminal.type("term.example.com")
    terminal.expect(r"web: succeeded")
    code = terminal.exit_code()
    assert code == 0, terminal.transcript
    assert "deployment succeeded" in terminal.transcript
    assert SECRET not in terminal.transcript  # typed, and not echoed
    no_traceback(terminal.transcript)
    questions = {q["name"]: q for q in world.deployment(ident)["questions"]}
    assert questions["domain"]["value"] == "term.example.com"
    assert questions["db_password"]["source"] == "answer"
