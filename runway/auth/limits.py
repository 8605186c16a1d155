"""How many failed logins are let through, per user, per client address and per device token."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Failures are counted over `window`, in the database, so every replica agrees.

    Per address: after `per_address` failures, that address waits until the oldest counted one
    leaves the window. Per user: after `per_user` failures (from anywhere), one attempt is allowed
    every `user_pause`: guessing slows to a crawl, but an attacker cannot lock the real person
    out for longer than that pause.

    Per device: an attempt with a valid device token of the user tried (runway.auth.devices)
    skips the user's pause and is not counted towards it, while the token has had fewer than
    `per_device` failures in the window; past that, it is not trusted (its attempts count as
    the user's, as without it) until those failures leave the window. So an attacker guessing
    from everywhere keeps the pause on their own attempts, not on the person's. The address's
    limit holds for every attempt.
    """

    window: timedelta = timedelta(minutes=15)
    per_address: int = 20
    per_user: int = 10
    user_pause: timedelta = timedelta(seconds=30)
    per_device: int = 5
    device_lifetime: timedelta = timedelta(days=180)
    """How long a device token is good for; each login gives a new one."""

    def address_wait(self, failures: Sequence[datetime], now: datetime) -> int:
        """Seconds this address must wait before trying again (0: go ahead)."""
        recent = [at for at in failures if at > now - self.window]
        if len(recent) < self.per_address:
            return 0
        return _seconds(recent[-self.per_address] + self.window - now)

    def user_wait(self, failures: Sequence[datetime], now: datetime) -> int:
        """Seconds before this user can be tried again (0: go ahead)."""
        recent = [at for at in failures if at > now - self.window]
        if len(recent) < self.per_user:
            return 0
        return _seconds(recent[-1] + self.user_pause - now)

    def device_trusted(self, failures: Sequence[datetime], now: datetime) -> bool:
        """Whether a device token with these failures still skips the user's pause."""
        return len([at for at in failures if at > now - self.window]) < self.per_device


def _seconds(delta: timedelta) -> int:
    return max(0, math.ceil(delta.total_seconds()))
