"""Bearer tokens: random, shown once, stored only as their hash."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "rw_"
"""Marks runway's tokens, so secret scanners and people can recognise a leaked one."""


def new_token() -> str:
    """A new random token (32 bytes of entropy)."""
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token. A fast hash suffices: the token has 256 random bits, so
    there is nothing to guess from a leaked hash."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
