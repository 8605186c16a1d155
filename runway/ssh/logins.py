"""Who may log in over SSH: the owner of a registered public key, or a user name and password
within the login limits the API's logins count against too (same keys, same table: guesses over
SSH and over HTTPS add up, on every replica)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from runway.auth import LoginLimits, PasswordHasher
from runway.auth.passwords import MAX_LENGTH
from runway.store import Store, User

log = logging.getLogger("runway.ssh")

MAX_NAME = 64
"""The longest user name looked at (the API's login takes no longer one)."""
HASHING_AT_ONCE = 2
"""Password checks take 64 MiB and tens of milliseconds each: a burst of them queues."""


class Logins:
    """The checks of one SSH server, against its store."""

    def __init__(self, store: Store, limits: LoginLimits, hasher: PasswordHasher) -> None:
        self.store = store
        self.limits = limits
        self.hasher = hasher
        self._hashing = asyncio.Semaphore(HASHING_AT_ONCE)

    async def key_matches(self, username: str, fingerprint: str) -> bool:
        """Whether the key with `fingerprint` is one of `username`'s, who is not disabled."""
        user = await self.store.users.by_key(fingerprint)
        return user is not None and user.name == username and not user.disabled

    async def password_matches(self, username: str, password: str, address: str) -> bool:
        """Whether the password is `username`'s (not disabled), unless the login limits of the
        user or the address are reached: then False without checking it. Every attempt is
        counted before the check, as the API's login does, so a burst is counted whole."""
        if len(username) > MAX_NAME or len(password) > MAX_LENGTH:
            return False
        now, limits, credentials = datetime.now(UTC), self.limits, self.store.credentials
        keys = (f"user:{username}", f"addr:{address}")
        by_user, by_address = await credentials.attempt(keys, now, now - limits.window)
        wait = max(limits.user_wait(by_user, now), limits.address_wait(by_address, now))
        if wait:
            await credentials.forget_attempt(keys, now)  # refused unchecked: no guess was made
            log.info("ssh: too many failed logins for %s or from %s", username, address)
            return False
        user = await self.store.users.by_name(username)
        hashed = await self.store.users.password_hash(user.id) if user else None
        async with self._hashing:
            if hashed is None:
                # As slow as a real check: the timing must not tell which users exist.
                await asyncio.to_thread(self.hasher.dummy_verify, password)
                valid = False
            else:
                valid = await asyncio.to_thread(self.hasher.verify, hashed, password)
        if not valid or user is None:
            return False
        await credentials.forget_attempt(keys, now)
        await credentials.clear_failures(keys[0])
        return not user.disabled

    async def user(self, username: str) -> User | None:
        """The user a login was for, while not disabled."""
        found = await self.store.users.by_name(username)
        return found if found is not None and not found.disabled else None
