"""Password hashes: argon2id, with the policy a new password must meet."""

from __future__ import annotations

import argon2

from runway.auth.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 1024


class PasswordHasher:
    """argon2id with argon2-cffi's recommended cost (RFC 9106, low-memory profile) by default.

    Hashing takes tens of milliseconds by design: callers on an event loop run it in a thread.
    """

    def __init__(
        self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        self._dummy: str | None = None

    @classmethod
    def cheap(cls) -> PasswordHasher:
        """A fast, weak hasher for tests and benchmarks only."""
        return cls(time_cost=1, memory_cost=1024, parallelism=1)

    def hash(self, password: str) -> str:
        """The hash of a new password, after checking it against the policy."""
        check_password(password)
        return self._hasher.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        """Whether `password` matches; never raises for a wrong or malformed one."""
        if len(password) > MAX_LENGTH:
            return False
        try:
            return self._hasher.verify(hashed, password)
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False

    def dummy_verify(self, password: str) -> None:
        """Spend the time a verification takes: an unknown user answers as slowly as a known one."""
        self.verify(self._dummy_hash(), password[:MAX_LENGTH])

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hasher.hash("runway: a password nobody has")
        return self._dummy


def check_password(password: str) -> None:
    """Raise WeakPassword unless the password is long enough to resist guessing."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must be at most {MAX_LENGTH} characters long")
    if not password.strip():
        raise WeakPassword("the password must not be only spaces")
