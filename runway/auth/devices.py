"""Device tokens (OWASP's device cookies): proof that this browser or command line logged in as
a user before, so that others guessing that user's password do not make its holder wait.

A token is signed, not stored. It carries the user's id and name and a random nonce, signed with
the installation's key (kept in the database, the same for every instance), so any instance
checks a token another one issued without a table, a migration or a query. What instances must
share is the token's failed logins: they are counted in the same table as the user's and the
address's, under the hash of the nonce, so every instance applies the same lockout and the
database never holds the token itself. The price of not storing it is that one token cannot be
revoked alone: it expires, it names the user's id (someone made later under the same name does
not inherit it), it carries a stamp of the user's password hash (a keyed digest: changing the
password ends every device token of the user), and all it ever buys is its own lockout instead
of the user's pause, never a login without the password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadData, URLSafeTimedSerializer

from runway.auth.invites import nonce_hash

_SALT = "runway.device"
MAX_LENGTH = 512
"""Longer than any token issued; anything longer is not read at all."""


@dataclass(frozen=True, slots=True)
class Device:
    """What a valid device token says: who logged in on it, with which password (a stamp of
    its hash), and its nonce."""

    user_id: int
    username: str
    stamp: str
    nonce: str

    @property
    def key(self) -> str:
        """What its failed logins are counted under: a hash, never the token."""
        return f"device:{nonce_hash(self.nonce)}"


class DeviceSigner:
    """Issues and reads device tokens with the installation's key; they last `lifetime`."""

    def __init__(self, key: bytes, lifetime: timedelta) -> None:
        self._key = key
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT)
        self._lifetime = lifetime

    def issue(self, user_id: int, username: str, password_hash: str) -> str:
        """A new token for a user who just logged in (a fresh nonce each time)."""
        stamp = self.stamp(password_hash)
        return self._serializer.dumps([user_id, username, stamp, secrets.token_urlsafe(16)])

    def stamp(self, password_hash: str) -> str:
        """A keyed digest of the password hash: the same while the password is, and telling
        nothing of it."""
        digest = hmac.new(self._key, f"{_SALT}:{password_hash}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def holds(self, device: Device, user_id: int, username: str, password_hash: str) -> bool:
        """Whether `device` was issued to this account, with the password it has now."""
        stamp = self.stamp(password_hash)
        same = device.user_id == user_id and device.username == username
        return same and hmac.compare_digest(device.stamp, stamp)

    def read(self, token: str) -> Device | None:
        """The device of a token; None when it is forged, tampered with, malformed or expired
        (such a token is ignored: the login is counted as any other)."""
        if not token or len(token) > MAX_LENGTH or not token.isascii():
            return None
        try:
            payload = self._serializer.loads(token, max_age=int(self._lifetime.total_seconds()))
        except BadData:
            return None
        if (
            not isinstance(payload, list)
            or len(payload) != 4
            or not isinstance(payload[0], int)
            or not all(isinstance(part, str) for part in payload[1:])
        ):
            return None
        return Device(payload[0], payload[1], payload[2], payload[3])
