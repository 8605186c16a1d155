"""Invite links: signed, expiring; single use is enforced by the store."""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from runway.auth.errors import InvalidInvite

_SALT = "runway.invite"


class InviteSigner:
    """Signs `(invite id, nonce)` with the installation's key; every instance shares the key."""

    def __init__(self, key: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT)

    def issue(self, invite_id: int, nonce: str) -> str:
        """The token that goes into the invite URL."""
        return self._serializer.dumps([invite_id, nonce])

    def read(self, token: str, max_age_seconds: int) -> tuple[int, str]:
        """The invite id and nonce of a token; InvalidInvite when forged, malformed or expired."""
        try:
            payload = self._serializer.loads(token, max_age=max_age_seconds)
        except SignatureExpired:
            raise InvalidInvite("this invite has expired; ask for a new one") from None
        except BadSignature:
            raise InvalidInvite("this invite link is not valid") from None
        if (
            not isinstance(payload, list)
            or len(payload) != 2
            or not isinstance(payload[0], int)
            or not isinstance(payload[1], str)
        ):
            raise InvalidInvite("this invite link is not valid")
        return payload[0], payload[1]


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()
