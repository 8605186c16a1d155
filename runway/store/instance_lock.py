"""SQLite is the single-instance default: one serving runway per database file.

Two servers on one SQLite file would each run the deployments they find, each with leases and
signals that only work across instances on Postgres. So a server takes an exclusive `flock` on
`<database>.lock` beside the file and holds it for as long as its Store is open; a second
server is refused with a message saying who holds it. Short commands that work beside a
running server (`runway setup`) take no lock: SQLite itself serialises their writes.

`flock` locks belong to the open file, so the kernel lets go of them when the process dies,
however it dies: a crashed server never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from runway.store.errors import StoreError


class DatabaseInUse(StoreError):
    """Another runway server holds the SQLite database (`path`)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(
            f"another runway server{holder} is already serving the SQLite database at {path}; "
            "SQLite allows one server: stop that one, or give every instance one Postgres "
            "database (--database-url postgresql://...)"
        )
        self.path = path


class InstanceLock:
    """The exclusive serving lock of one SQLite database file, taken by `acquire()`."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, without waiting: DatabaseInUse when another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DatabaseInUse(self.database, holder) from None
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for the message a second server prints (informative only).
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the file lets go of the lock


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {text})" if text.isdigit() else ""
