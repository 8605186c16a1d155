"""One dashboard process (`runway tui`) in a pseudo-terminal of its own: started with a clean
environment, its own token and a home and working directory of its own (not the server's),
sized like the client's terminal and resized with it, its output handed on as it comes, and
killed when the SSH session ends."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pty
import re
import struct
import sys
import termios
from collections.abc import Callable

log = logging.getLogger("runway.ssh")

# The names `runway tui` reads (runway/cli/tui.py): this layer cannot import the cli's.
TOKEN_VARIABLE = "RUNWAY_TOKEN"
USER_VARIABLE = "RUNWAY_USER"
REMOTE_VARIABLE = "RUNWAY_REMOTE_TERMINAL"
"""Set for the app (runway/tui/app.py reads it): it runs on the server for someone at the other
end of SSH, so whatever it would save (a screenshot) would land on the server, not with them."""

KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
"""The only variables of the server's environment the child sees: never its database URL or any
other secret runway was started with. (The browser's app processes keep these and HOME.)"""
DEFAULT_TERM = "xterm-256color"
_TERM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
MAX_SIZE = 1000
"""Columns and rows beyond this are taken as this: a client cannot make the app draw a screen
of millions of cells."""
QUIT_WAIT = 2.0
"""Seconds a terminated child gets to go before it is killed."""
_READ = 65536
_PENDING_MAX = 256 * 1024
"""Bytes of input held for a child that does not read them, before the client is paused."""

# The child's first moments, before it becomes `runway tui` (os.execv: the same process, so
# stopping it stops the app): a session of its own whose controlling terminal is the PTY, so
# that the kernel tells it of each resize (SIGWINCH). A fixed text: nothing in it comes from
# the client. (Not preexec_fn, which is unsafe in a process with threads.)
_START = (
    "import fcntl, os, sys, termios\n"
    "os.setsid()\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


def command(api_url: str) -> list[str]:
    """The child's command line: `runway tui` against the API; the token and the user go in
    its environment, never here (`ps` shows the command line to everyone)."""
    return [sys.executable, "-c", _START, "-m", "runway", "tui", "--url", api_url]


def term_of(given: str) -> str:
    """The client's TERM when it looks like a terminal's name, else a common one: it is the
    one thing taken from the client's environment."""
    return given if _TERM.fullmatch(given) else DEFAULT_TERM


def environment(term: str, token: str, username: str, home: str) -> dict[str, str]:
    """The child's whole environment; `home` is its HOME (a directory of the session's own)."""
    kept = {name: os.environ[name] for name in KEPT if name in os.environ}
    given = {TOKEN_VARIABLE: token, USER_VARIABLE: username, REMOTE_VARIABLE: "1"}
    return {**kept, "HOME": home, "TERM": term_of(term), **given}


def clamp(value: int, default: int) -> int:
    return min(value, MAX_SIZE) if value > 0 else default


def _set_size(fd: int, width: int, height: int) -> None:
    size = struct.pack("HHHH", clamp(height, 24), clamp(width, 80), 0, 0)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, size)


class Child:
    """A running child on the master side of its PTY. `output` gets what it draws; `ended`
    is set once it closed its terminal (it exited); `input_full(True)` asks the caller to stop
    sending input for a while, `input_full(False)` to go on."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        master: int,
        output: Callable[[bytes], None],
        input_full: Callable[[bool], None],
    ) -> None:
        self.process = process
        self.ended = asyncio.Event()
        self._master = master
        self._output = output
        self._input_full = input_full
        self._pending = bytearray()
        self._full = False
        self._closed = False
        self._loop = asyncio.get_running_loop()
        os.set_blocking(master, False)
        self._loop.add_reader(master, self._readable)

    @classmethod
    async def start(
        cls,
        argv: list[str],
        env: dict[str, str],
        width: int,
        height: int,
        *,
        cwd: str,
        output: Callable[[bytes], None],
        input_full: Callable[[bool], None],
    ) -> Child:
        master, slave = pty.openpty()
        try:
            _set_size(slave, width, height)
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            # Only the child holds the terminal now: its exit closes it, which ends the reading.
            os.close(slave)
        return cls(process, master, output, input_full)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _readable(self) -> None:
        try:
            data = os.read(self._master, _READ)
        except BlockingIOError:
            return
        except OSError:  # EIO: every holder of the terminal closed it
            data = b""
        if not data:
            self._loop.remove_reader(self._master)
            self.ended.set()
            return
        self._output(data)

    def pause_output(self) -> None:
        """The client reads slower than the app draws: stop reading (the app then waits)."""
        if not self.ended.is_set():
            self._loop.remove_reader(self._master)

    def resume_output(self) -> None:
        if not self.ended.is_set():
            self._loop.add_reader(self._master, self._readable)

    def write(self, data: bytes) -> None:
        """Keys and pastes from the client, in order; held while the child does not read."""
        if self._closed:
            return
        waiting = bool(self._pending)
        self._pending += data
        if not waiting:
            self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self._master, self._pending)
            except BlockingIOError:
                break
            except OSError:  # the child is gone
                self._pending.clear()
                break
            del self._pending[:written]
        if self._pending:
            self._loop.add_writer(self._master, self._flush)
        else:
            self._loop.remove_writer(self._master)
        full = len(self._pending) > _PENDING_MAX
        if full != self._full:
            self._full = full
            self._input_full(full)

    def resize(self, width: int, height: int) -> None:
        """The client's window changed: the kernel tells the app (SIGWINCH)."""
        with contextlib.suppress(OSError):
            _set_size(self._master, width, height)

    async def stop(self) -> int:
        """End the app (terminate, then kill when it does not go), close its terminal; its exit
        status. Even when this is cancelled or fails midway, the app is killed and its terminal
        closed: neither outlives the session."""
        process = self.process
        try:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    async with asyncio.timeout(QUIT_WAIT):
                        await process.wait()
                except TimeoutError:
                    log.warning("the dashboard process %s did not quit: killed", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            return await process.wait()
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
            os.close(self._master)
        self.ended.set()
