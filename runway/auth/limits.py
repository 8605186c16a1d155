"""How many failed logins are let through, per user and per client address."""

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
    """

    window: timedelta = timedelta(minutes=15)
    per_address: int = 20
    per_user: int = 10
    user_pause: timedelta = timedelta(seconds=30)

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


def _seconds(delta: timedelta) -> int:
    return max(0, math.ceil(delta.total_seconds()))
