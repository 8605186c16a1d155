"""Pagination: lists come newest first, a page at a time, with an opaque cursor for the next."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from runway.store.errors import InvalidCursor

T = TypeVar("T")

_PREFIX = "rw1:"
MAX_ID = 2**31 - 1
"""The largest id a row can have (Postgres SERIAL columns are 32-bit)."""


def encode(key: int) -> str:
    """The cursor that continues after the row whose ordering key is `key`."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{key}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> int | None:
    """The ordering key a cursor continues after (None: start from the newest)."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith(_PREFIX):
            key = int(text.removeprefix(_PREFIX))
            if 0 < key <= MAX_ID and encode(key) == cursor:
                return key
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise InvalidCursor(f"invalid cursor {cursor[:40]!r}: pass the cursor a previous page gave")


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def page(items: Sequence[T], limit: int, key: Callable[[T], int]) -> tuple[list[T], str | None]:
    """The first `limit` of `items` (queried with `limit + 1`) and the cursor for the rest."""
    if len(items) > limit:
        return list(items[:limit]), encode(key(items[limit - 1]))
    return list(items), None
