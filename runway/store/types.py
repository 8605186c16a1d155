"""Column types that behave the same on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime on both backends.

    Postgres stores `timestamptz` and asyncpg answers aware UTC. SQLite has no time zones and
    silently drops an offset, so values are converted to UTC, stored naive (as fixed-width text
    that sorts and compares correctly) and given UTC back when read. A naive datetime is refused:
    guessing its zone would shift times by hours without anyone noticing.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return aware(value)


def utc(value: datetime) -> datetime:
    """An aware `value` in UTC; ValueError for a naive one (whose zone nobody knows)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store: use UTC")
    return value.astimezone(UTC)


def aware(value: Any) -> datetime | None:
    """`value` as an aware UTC datetime (reads from SQLite come back naive, in UTC)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def JSON(*, none_as_null: bool = False) -> sa.JSON:
    """A JSON document (`sa.JSON`: text on SQLite, `json` on Postgres, so key order is kept)."""
    return sa.JSON(none_as_null=none_as_null)
