"""Restore points (DESIGN.md): the backups of an app's volumes taken when a deployment starts,
stored with that deployment, and how many of them each environment keeps.

A restore point is written once its backups are all taken; a resumed start that finds it
stored takes nothing again. Pruning marks a restore point `pruned_at` once its backups were
deleted from the cluster (the row stays, so a rollback can say which moment is gone).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runway.store.database import Db, Row
from runway.store.leases import Lease, Leases
from runway.store.records import DeploymentStatus
from runway.store.tables import (
    answers,
    deployments,
    environments,
    events,
    restore_point_settings,
    restore_points,
)
from runway.store.types import utc

KEPT = 3
"""Restore points of each app an environment keeps unless it says otherwise."""
MOST_KEPT = 50
"""The most an environment may keep: each holds a copy of the app's volumes."""
_STARTED = frozenset(
    s.value
    for s in (
        DeploymentStatus.RUNNING,
        DeploymentStatus.WAITING_FOR_INPUT,
        DeploymentStatus.SUCCEEDED,
        DeploymentStatus.FAILED,
        DeploymentStatus.CANCELLED,
    )
)
_NOT_ENDED = (
    DeploymentStatus.CREATED,
    DeploymentStatus.RUNNING,
    DeploymentStatus.WAITING_FOR_INPUT,
)


@dataclass(frozen=True, slots=True)
class VolumeBackup:
    """One volume's backup: a VolumeSnapshot, or a copy in a backup PVC."""

    service: str
    volume: str
    claim: str
    """The app's PVC that was backed up (and is restored under the same name)."""
    method: str
    """`snapshot` or `copy`."""
    name: str
    """The VolumeSnapshot's or the backup PVC's name."""
    size: str
    """The claim's requested size (a Kubernetes quantity)."""
    storage_class: str | None = None
    snapshot_class: str | None = None
    replicas: int | None = None
    """For a copy: the workload's replicas before it was scaled to zero for the copy."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "volume": self.volume,
            "claim": self.claim,
            "method": self.method,
            "name": self.name,
            "size": self.size,
            "storage_class": self.storage_class,
            "snapshot_class": self.snapshot_class,
            "replicas": self.replicas,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> VolumeBackup:
        return cls(
            service=str(data["service"]),
            volume=str(data["volume"]),
            claim=str(data["claim"]),
            method=str(data["method"]),
            name=str(data["name"]),
            size=str(data["size"]),
            storage_class=data.get("storage_class"),
            snapshot_class=data.get("snapshot_class"),
            replicas=data.get("replicas"),
        )


@dataclass(frozen=True, slots=True)
class RestorePoint:
    """The backups taken when deployment `number` of `app` started."""

    deployment_id: int
    environment_id: int
    app: str
    number: int
    taken_at: datetime
    volumes: tuple[VolumeBackup, ...]
    pruned_at: datetime | None = None


def _point(row: Row) -> RestorePoint:
    return RestorePoint(
        deployment_id=int(row["deployment_id"]),
        environment_id=int(row["environment_id"]),
        app=str(row["app"]),
        number=int(row["number"]),
        taken_at=row["taken_at"],
        volumes=tuple(VolumeBackup.of(item) for item in row["volumes"]),
        pruned_at=row["pruned_at"],
    )


class RestorePoints:
    def __init__(self, db: Db) -> None:
        self._db = db
        self._leases = Leases(db)

    async def record(
        self,
        deployment_id: int,
        environment_id: int,
        app: str,
        number: int,
        volumes: builtins.list[VolumeBackup],
        now: datetime,
        *,
        lease: Lease | None = None,
    ) -> RestorePoint:
        """Store the deployment's restore point (once: a second call keeps the first); with
        `lease` (the run's), only while it is held: LeaseLost, writing nothing, when it is not."""
        async with self._db.write():
            await self._leases.hold(lease)
            found = await self.of_deployment(deployment_id)
            if found is not None:
                return found
            await self._db.execute(
                sa.insert(restore_points).values(
                    deployment_id=deployment_id,
                    environment_id=environment_id,
                    app=app,
                    number=number,
                    taken_at=utc(now),
                    volumes=[volume.as_dict() for volume in volumes],
                )
            )
        return RestorePoint(
            deployment_id, environment_id, app, number, utc(now), tuple(volumes), None
        )

    async def of_deployment(self, deployment_id: int) -> RestorePoint | None:
        row = await self._db.fetch_one(
            sa.select(restore_points).where(restore_points.c.deployment_id == deployment_id)
        )
        return None if row is None else _point(row)

    async def of_app(self, environment_id: int, app: str) -> builtins.list[RestorePoint]:
        """The app's restore points in the environment, oldest first (pruned ones too)."""
        rows = await self._db.fetch_all(
            sa.select(restore_points)
            .where(restore_points.c.environment_id == environment_id, restore_points.c.app == app)
            .order_by(restore_points.c.number)
        )
        return [_point(row) for row in rows]

    async def live(self, environment_id: int) -> builtins.list[RestorePoint]:
        """The environment's restore points not pruned (what a rollback can still go back to),
        newest first: at most the retention of each app."""
        rows = await self._db.fetch_all(
            sa.select(restore_points)
            .where(
                restore_points.c.environment_id == environment_id,
                restore_points.c.pruned_at.is_(None),
            )
            .order_by(restore_points.c.taken_at.desc(), restore_points.c.deployment_id.desc())
        )
        return [_point(row) for row in rows]

    async def mark_pruned(
        self, deployment_id: int, now: datetime, *, lease: Lease | None = None
    ) -> None:
        """Say the restore point's backups are gone; with `lease` (of the run that pruned
        them), only while it is held: LeaseLost, writing nothing, when it is not."""
        async with self._db.write():
            await self._leases.hold(lease)
            await self._db.execute(
                sa.update(restore_points)
                .where(restore_points.c.deployment_id == deployment_id)
                .values(pruned_at=utc(now))
            )

    async def secret_names_needed(self, environment_id: int, app: str) -> set[str]:
        """The Secrets of secret answers that the app's deployments still needed refer to (an
        answer Secret no such deployment refers to may be pruned: DESIGN.md, Secrets and
        restore points are pruned together). Needed: those not ended (created, running,
        waiting for input), the latest success (the next deployment reuses its answers), and
        every deployment a rollback may still go back to or undo: each from the oldest restore
        point whose backups are not pruned, or the oldest of the newest `kept` started, on,
        and the last success before it. A deployment
        reuses the answers of the last success before it, which is always among these too."""
        rows = await self._db.fetch_all(
            sa.select(deployments.c.id, deployments.c.number, deployments.c.status).where(
                deployments.c.environment_id == environment_id, deployments.c.app == app
            )
        )
        kept = await self.kept(environment_id)
        points = await self.of_app(environment_id, app)
        # A rollback may start from a deployment whose backups are not pruned, and from any of
        # the newest `kept` started ones (an app without volumes backs nothing up, so its
        # restore points never say which).
        live = [p.number for p in points if p.pruned_at is None and p.volumes]
        started = sorted(int(r["number"]) for r in rows if r["status"] in _STARTED)
        live += started[-kept:]
        oldest = min(live, default=None)
        succeeded = [
            int(r["number"]) for r in rows if r["status"] == DeploymentStatus.SUCCEEDED.value
        ]
        needed = {max(succeeded)} if succeeded else set()
        before = [n for n in succeeded if oldest is not None and n < oldest]
        if before:
            needed.add(max(before))
        not_ended = {s.value for s in _NOT_ENDED}
        ids = [
            int(r["id"])
            for r in rows
            if r["status"] in not_ended
            or int(r["number"]) in needed
            or (oldest is not None and int(r["number"]) >= oldest)
        ]
        if not ids:
            return set()
        found = await self._db.fetch_all(
            sa.select(answers.c.secret_name)
            .distinct()
            .where(answers.c.deployment_id.in_(ids), answers.c.secret_name.is_not(None))
        )
        return {str(row["secret_name"]) for row in found}

    async def previous_started(self, environment_id: int, app: str, before: int) -> int | None:
        """The id of the app's newest deployment numbered below `before` that was started: the
        one whose workloads the cluster has (whatever became of it)."""
        row = await self._db.fetch_one(
            sa.select(deployments.c.id)
            .where(
                deployments.c.environment_id == environment_id,
                deployments.c.app == app,
                deployments.c.number < before,
                deployments.c.started_at.is_not(None),
            )
            .order_by(deployments.c.number.desc())
            .limit(1)
        )
        return None if row is None else int(row["id"])

    async def kept(self, environment_id: int) -> int:
        """How many restore points of each app the environment keeps."""
        row = await self._db.fetch_one(
            sa.select(restore_point_settings.c.kept).where(
                restore_point_settings.c.environment_id == environment_id
            )
        )
        return KEPT if row is None else int(row["kept"])

    async def kept_of(self, environment_ids: Iterable[int]) -> dict[int, int]:
        """How many restore points of each app each of the environments keeps (one query for
        a page of environments)."""
        ids = list(environment_ids)
        found = dict.fromkeys(ids, KEPT)
        if ids:
            for row in await self._db.fetch_all(
                sa.select(restore_point_settings).where(
                    restore_point_settings.c.environment_id.in_(ids)
                )
            ):
                found[int(row["environment_id"])] = int(row["kept"])
        return found

    async def set_kept(self, environment_id: int, kept: int) -> None:
        async with self._db.write():
            await self._db.execute(
                sa.delete(restore_point_settings).where(
                    restore_point_settings.c.environment_id == environment_id
                )
            )
            await self._db.execute(
                sa.insert(restore_point_settings).values(environment_id=environment_id, kept=kept)
            )

    # -- automatic rollbacks an instance left undone ------------------------------------------

    async def rollbacks_left(self, since: datetime) -> builtins.list[int]:
        """The ids of deployments that failed since `since` in an environment that rolls back
        by itself, whose rollback an instance that stopped may have left undone: not itself a
        rollback, still its app's newest deployment but for rollbacks of it, and either with
        no `rollback` event yet (the instance stopped before deciding) or with a rollback of it
        still `created` (it stopped before starting that)."""
        d = deployments.alias("d")
        newer = deployments.alias("newer")
        child = deployments.alias("child")
        query = (
            sa.select(d.c.id)
            .join_from(d, environments, environments.c.id == d.c.environment_id)
            .where(
                d.c.status == "failed",
                d.c.rollback_of.is_(None),
                d.c.finished_at >= utc(since),
                environments.c.on_failure == "rollback",
                ~sa.exists().where(
                    newer.c.environment_id == d.c.environment_id,
                    newer.c.app == d.c.app,
                    newer.c.number > d.c.number,
                    sa.or_(newer.c.rollback_of.is_(None), newer.c.rollback_of != d.c.id),
                ),
                sa.or_(
                    ~sa.exists().where(
                        events.c.deployment_id == d.c.id, events.c.type == "rollback"
                    ),
                    sa.exists().where(child.c.rollback_of == d.c.id, child.c.status == "created"),
                ),
            )
            .order_by(d.c.id)
        )
        return [int(row["id"]) for row in await self._db.fetch_all(query)]

    async def rollback_of(self, deployment_id: int) -> tuple[int, str] | None:
        """The newest rollback of the deployment (its id and status), if there is one."""
        row = await self._db.fetch_one(
            sa.select(deployments.c.id, deployments.c.status)
            .where(deployments.c.rollback_of == deployment_id)
            .order_by(deployments.c.id.desc())
            .limit(1)
        )
        return None if row is None else (int(row["id"]), str(row["status"]))

    async def has_event(self, deployment_id: int, type: str) -> bool:
        row = await self._db.fetch_one(
            sa.select(events.c.id)
            .where(events.c.deployment_id == deployment_id, events.c.type == type)
            .limit(1)
        )
        return row is not None
