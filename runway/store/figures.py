"""What `/metrics` reads from the database when it is scraped: the same answer on every
instance, whichever ran what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from runway.store.database import Db
from runway.store.tables import deployments, steps
from runway.store.types import utc


@dataclass(frozen=True, slots=True)
class FinishedStep:
    """A step that ran and ended: what its duration is observed under."""

    deployment_id: int
    name: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.finished_at - self.started_at).total_seconds())


class Figures:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def deployments_by_status(self) -> dict[str, int]:
        """How many deployments are in each status (a status none is in is absent)."""
        count = sa.func.count().label("n")
        rows = await self._db.fetch_all(
            sa.select(deployments.c.status, count).group_by(deployments.c.status)
        )
        return {str(row["status"]): int(row["n"]) for row in rows}

    async def steps_finished_after(
        self, since: datetime, limit: int = 10_000
    ) -> list[FinishedStep]:
        """Steps that started and finished after `since` (by `finished_at`, indexed), oldest
        first, at most `limit`: skipped steps and those cancelled before they started have no
        duration and are left out."""
        rows = await self._db.fetch_all(
            sa.select(
                steps.c.deployment_id,
                steps.c.name,
                steps.c.kind,
                steps.c.status,
                steps.c.started_at,
                steps.c.finished_at,
            )
            .where(steps.c.finished_at > utc(since), steps.c.started_at.is_not(None))
            .order_by(steps.c.finished_at)
            .limit(limit)
        )
        return [
            FinishedStep(
                deployment_id=int(row["deployment_id"]),
                name=str(row["name"]),
                kind=str(row["kind"]),
                status=str(row["status"]),
                started_at=row["started_at"],
                finished_at=row["finished_at"],
            )
            for row in rows
        ]
