"""Leases: which instance runs which deployment (DESIGN.md, Executing).

A running deployment is owned by one instance through its lease row: `owner` (the instance),
`epoch` (a number that grows every time the lease changes hands) and `expires_at`, timed by the
database's clock so that instances whose clocks disagree still agree on who holds what. The
owner renews its leases every few seconds; a lease that lapsed (its instance crashed, froze or
lost the database) may be taken by any instance, which gets the next epoch. Every write the
owner makes is fenced by its lease (`Fence`: the write happens only while the owner still holds
that epoch), so an instance that lost its lease, however long it was paused, cannot write again.

Releasing (a graceful stop) makes the lease lapse at once: another instance takes the
deployment without waiting for it to expire.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from runway.store.database import Db
from runway.store.errors import StoreError
from runway.store.tables import deployments, leases

ACTIVE = ("running", "waiting_for_input")


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease `owner` holds on a deployment, at `epoch`."""

    deployment_id: int
    owner: str
    epoch: int


class LeaseLost(StoreError):
    """A fenced write found its lease gone (lapsed, released or taken by another instance):
    nothing was written; the instance must stop acting on the deployment at once."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(
            f"instance {lease.owner} no longer holds deployment {lease.deployment_id} "
            f"(epoch {lease.epoch})"
        )
        self.lease = lease


class Leases:
    def __init__(self, db: Db) -> None:
        self._db = db
        self._hold: sa.Select[tuple[int]] | None = None

    # -- the database's clock ----------------------------------------------------------------

    def now(self) -> Any:
        """The database's current time, as an SQL expression comparable with `expires_at`."""
        if self._db.backend == "postgresql":
            return sa.func.clock_timestamp()
        # SQLite stores naive UTC text `YYYY-MM-DD HH:MM:SS.ffffff`, which sorts as it reads.
        return sa.func.strftime("%Y-%m-%d %H:%M:%f", "now")

    def later(self, seconds: float) -> Any:
        """The database's time `seconds` from now, as an SQL expression."""
        if self._db.backend == "postgresql":
            interval = sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.literal(seconds, sa.Float))
            return sa.func.clock_timestamp() + interval
        return sa.func.strftime("%Y-%m-%d %H:%M:%f", "now", f"{seconds:+.3f} seconds")

    async def hold(self, lease: Lease | None) -> None:
        """Inside `write()`, before a write fenced by `lease`: LeaseLost unless it is still
        held (same owner and epoch, not lapsed), and then it stays held until the transaction
        ends. On Postgres the lease row is locked (FOR SHARE), so an instance taking it over
        waits for this transaction and cannot take it in the middle of the write; SQLite runs
        one write transaction at a time anyway. Nothing to check without a lease."""
        if lease is None:
            return
        if self._hold is None:  # built once (every step change runs it)
            query = sa.select(leases.c.epoch).where(
                leases.c.deployment_id == sa.bindparam("deployment"),
                leases.c.owner == sa.bindparam("owner"),
                leases.c.epoch == sa.bindparam("epoch"),
                leases.c.expires_at > self.now(),
            )
            if self._db.backend == "postgresql":
                query = query.with_for_update(read=True)
            self._hold = query
        params = {"deployment": lease.deployment_id, "owner": lease.owner, "epoch": lease.epoch}
        if await self._db.fetch_one(self._hold, params) is None:
            raise LeaseLost(lease)

    # -- taking, renewing, releasing -----------------------------------------------------------

    async def take(self, deployment_id: int, owner: str, ttl: float) -> Lease | None:
        """The deployment's lease for `owner` for `ttl` seconds, when nobody holds it or it
        lapsed (with the next epoch); None while it is held, by another instance or by this
        one (whose run has it already)."""
        async with self._db.write():
            return await self._take(deployment_id, owner, ttl)

    async def take_free(
        self, owner: str, ttl: float, limit: int, *, exclude: Collection[int] = ()
    ) -> list[Lease]:
        """Take up to `limit` leases of active deployments nobody holds (never had one, or it
        lapsed or was released), oldest deployment first, except those in `exclude` (what the
        instance runs already: a lease of its own that lapsed is lost, not taken again). On
        Postgres the candidates are locked with SKIP LOCKED, so instances scanning at once
        share them out instead of queueing behind each other."""
        query = (
            sa.select(deployments.c.id)
            .select_from(deployments.outerjoin(leases, leases.c.deployment_id == deployments.c.id))
            .where(
                deployments.c.status.in_(ACTIVE),
                sa.or_(leases.c.deployment_id.is_(None), leases.c.expires_at <= self.now()),
                deployments.c.id.not_in(list(exclude)),
            )
            .order_by(deployments.c.id)
            .limit(limit)
        )
        if self._db.backend == "postgresql":
            # FOR NO KEY UPDATE, not FOR UPDATE: a `take` of the same deployment inserting its
            # lease row checks its foreign key with FOR KEY SHARE on the deployment row, which
            # FOR UPDATE blocks while this scan waits for that very insert: a deadlock.
            query = query.with_for_update(of=deployments, skip_locked=True, key_share=True)
        taken: list[Lease] = []
        async with self._db.write():
            for row in await self._db.fetch_all(query):
                lease = await self._take(int(row["id"]), owner, ttl)
                if lease is not None:
                    taken.append(lease)
        return taken

    async def renew(self, lease: Lease, ttl: float) -> bool:
        """Extend a lease still held (not lapsed) by `ttl` seconds; False when it is lost."""
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.update(leases)
                .where(
                    leases.c.deployment_id == lease.deployment_id,
                    leases.c.owner == lease.owner,
                    leases.c.epoch == lease.epoch,
                    leases.c.expires_at > self.now(),
                )
                .values(expires_at=self.later(ttl))
                .returning(leases.c.epoch)
            )
        return row is not None

    async def release(self, lease: Lease) -> None:
        """Give the lease up (a graceful stop, or the deployment ended): it lapses now, so
        another instance may take the deployment at once (with the next epoch: the row stays,
        so epochs only grow). Nothing happens when it is no longer this lease."""
        async with self._db.write():
            await self._db.execute(
                sa.update(leases)
                .where(
                    leases.c.deployment_id == lease.deployment_id,
                    leases.c.owner == lease.owner,
                    leases.c.epoch == lease.epoch,
                )
                .values(expires_at=self.later(-1.0))
            )

    async def current(self, deployment_id: int) -> Lease | None:
        """The deployment's lease if one is held now (not lapsed)."""
        row = await self._db.fetch_one(
            sa.select(leases.c.owner, leases.c.epoch).where(
                leases.c.deployment_id == deployment_id, leases.c.expires_at > self.now()
            )
        )
        return None if row is None else Lease(deployment_id, str(row["owner"]), int(row["epoch"]))

    async def _take(self, deployment_id: int, owner: str, ttl: float) -> Lease | None:
        insert = self._db.insert(leases).values(
            deployment_id=deployment_id, owner=owner, epoch=1, expires_at=self.later(ttl)
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[leases.c.deployment_id],
            set_={
                "owner": owner,
                "epoch": leases.c.epoch + 1,
                "expires_at": self.later(ttl),
            },
            where=leases.c.expires_at <= self.now(),
        ).returning(leases.c.epoch)
        row = await self._db.fetch_one(upsert)
        return None if row is None else Lease(deployment_id, owner, int(row["epoch"]))
