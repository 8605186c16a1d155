"""What the server tidies now and then: credentials that can no longer be used.

Every instance sweeps; the deletes are idempotent, so several at once only repeat each other's
work. What is kept for a while after it stopped working (a week) is still there to explain a
refusal or an audit question."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from runway.store import Store, StoreError

log = logging.getLogger("runway.http.housekeeping")

EVERY = 3600.0
KEEP = timedelta(days=7)


async def sweep_once(store: Store, now: datetime | None = None) -> dict[str, int]:
    """One sweep of what stopped working more than `KEEP` ago; counts per table."""
    before = (now or datetime.now(UTC)) - KEEP
    swept = await store.credentials.sweep(before)
    if any(swept.values()):
        log.info(
            "forgot %s",
            ", ".join(f"{count} {table}" for table, count in swept.items() if count),
        )
    return swept


async def keep_tidy(store: Store, every: float = EVERY) -> None:
    """Sweep at start and every `every` seconds until cancelled; a database that does not
    answer is logged and tried again next time."""
    while True:
        try:
            await sweep_once(store)
        except StoreError as error:
            log.warning("could not sweep expired credentials: %s", error)
        await asyncio.sleep(every)
