"""The SSH server's host key: made once, by whichever instance asks first, and kept in the
`settings` table (beside the invite signing key), so that every replica presents the same key and
clients never see it change. It is a secret: never log it."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from runway.store.store import Store
from runway.store.tables import settings

_HOST_KEY = "ssh_host_key"


async def ssh_host_key(store: Store, make: Callable[[], str]) -> str:
    """The stored host key (its private key, as text); when there is none yet, `make()`'s is
    stored first. Two instances starting together may both make one: the first stored wins and
    both answer it."""
    db = store._db  # this package's own: the Store has no attribute for the settings table
    row = await db.fetch_one(sa.select(settings.c.value).where(settings.c.name == _HOST_KEY))
    if row is None:
        async with db.write():
            await db.execute(
                db.insert(settings)
                .values(name=_HOST_KEY, value=make())
                .on_conflict_do_nothing(index_elements=[settings.c.name])
            )
        row = await db.fetch_one(sa.select(settings.c.value).where(settings.c.name == _HOST_KEY))
    assert row is not None
    return str(row["value"])
