"""Status changes of deployments and their steps, each stored with its event in one transaction.

Every change is a compare-and-set: the row changes only when its status is one of those the
caller says it may come from (the executor's table, runway.executor.states), so two writers (two
requests, two instances) never both make the same change; the loser gets `StatusChanged` with
the status it found. Event ids come from the deployment row in the same statement as the change,
so they stay contiguous per deployment whatever else writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ClauseElement

from runway.store.database import Db
from runway.store.errors import NotFound, StoreError
from runway.store.leases import Lease, Leases
from runway.store.notify import EventHub, announce
from runway.store.records import DeploymentStatus, Event, StepStatus
from runway.store.tables import deployments, events
from runway.store.tables import steps as steps_table
from runway.store.types import utc

FINISHED = frozenset(
    {
        DeploymentStatus.SUCCEEDED,
        DeploymentStatus.FAILED,
        DeploymentStatus.CANCELLED,
        DeploymentStatus.SUPERSEDED,
    }
)
STEP_FINISHED = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)
ACTIVE = (DeploymentStatus.RUNNING.value, DeploymentStatus.WAITING_FOR_INPUT.value)


class StatusChanged(StoreError):
    """A status change lost its race or was never allowed: the row's status (`current`) is not
    one the change may come from. `what` names the deployment or step for a person."""

    def __init__(self, what: str, current: str, wanted: str) -> None:
        super().__init__(f"{what} is {current}, so it cannot become {wanted}")
        self.what = what
        self.current = current
        self.wanted = wanted


class ActiveDeployment(StoreError):
    """Another deployment of the same app in the environment is running or waiting for input
    (one at a time, DESIGN.md); `number` and `id` name it."""

    def __init__(self, app: str, number: int, deployment_id: int) -> None:
        super().__init__(f"deployment #{number} of {app} is still active in this environment")
        self.app = app
        self.number = number
        self.id = deployment_id


@dataclass(frozen=True, slots=True)
class StepChange:
    """One step's status change: to `status`, from one of `allowed_from`, with a reason."""

    step: str
    status: StepStatus
    allowed_from: Collection[StepStatus]
    reason: str | None = None
    questions: Sequence[str] = ()
    """Inputs the step asks for with this change: a `question` event each, after its own."""


class Transitions:
    def __init__(self, db: Db, hub: EventHub) -> None:
        self._db = db
        self._hub = hub
        self._leases = Leases(db)

    async def deployment(
        self,
        deployment_id: int,
        status: DeploymentStatus,
        *,
        allowed_from: Collection[DeploymentStatus],
        now: datetime,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
        lease: Lease | None = None,
    ) -> Event:
        """Change the deployment's status (and reason; `started_at` on its first start,
        `finished_at` when final) if it is one of `allowed_from`, with its `deployment` event
        (`data` adds to it: never a secret value). StatusChanged when it is not; NotFound when
        the deployment is gone. With `lease`, only while it is held: LeaseLost, writing nothing,
        when it is not."""
        now = utc(now)
        async with self._db.write():
            await self._leases.hold(lease)
            event = await self._deployment(
                deployment_id, status, allowed_from, now, reason, data, lease
            )
        self._notify(deployment_id)
        return event

    @contextlib.asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        """The changes made inside the block in one transaction: all stored, or none (the
        steps left and the deployment's end, when a run ends)."""
        async with self._db.write():
            yield

    def _notify(self, deployment_id: int) -> None:
        """Wake this instance's streams of the deployment once what was stored is committed
        (at the end of an enclosing `together()`, if any)."""
        self._db.after_commit(lambda: self._hub.notify(deployment_id))

    async def event(
        self,
        deployment_id: int,
        type: str,
        data: dict[str, Any],
        *,
        now: datetime,
        lease: Lease | None = None,
    ) -> Event:
        """Store an event that changes no status (`lease`: who runs the deployment now) with
        the next id; with `lease`, only while it is held (LeaseLost, writing nothing)."""
        now = utc(now)
        async with self._db.write():
            await self._leases.hold(lease)
            counter = await self._db.fetch_one(
                _TAKE_EVENT_IDS, {"deployment": deployment_id, "count": 1}
            )
            if counter is None:
                raise NotFound(f"deployment {deployment_id}")
            event = await self._event(deployment_id, int(counter["last_event_id"]), type, data, now)
        self._notify(deployment_id)
        return event

    async def start(self, deployment_id: int, *, now: datetime) -> Event:
        """`created` -> `running`, unless another deployment of the same app in the environment
        is active (ActiveDeployment naming it): checked and written under one lock per app and
        environment, so two starts on two instances cannot both pass the check."""
        now = utc(now)
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.select(deployments.c.environment_id, deployments.c.app).where(
                    deployments.c.id == deployment_id
                )
            )
            if row is None:
                raise NotFound(f"deployment {deployment_id}")
            environment_id, app = int(row["environment_id"]), str(row["app"])
            await self._db.lock(f"runway:active:{environment_id}:{app}")
            other = await self._db.fetch_one(
                sa.select(deployments.c.id, deployments.c.number).where(
                    deployments.c.environment_id == environment_id,
                    deployments.c.app == app,
                    deployments.c.status.in_(ACTIVE),
                    deployments.c.id != deployment_id,
                )
            )
            if other is not None:
                raise ActiveDeployment(app, int(other["number"]), int(other["id"]))
            event = await self._deployment(
                deployment_id,
                DeploymentStatus.RUNNING,
                (DeploymentStatus.CREATED,),
                now,
                None,
                None,
                None,
            )
        self._notify(deployment_id)
        return event

    async def steps(
        self,
        deployment_id: int,
        changes: Sequence[StepChange],
        *,
        now: datetime,
        lease: Lease | None = None,
    ) -> list[Event]:
        """Change several steps at once (all or none), each with its `step` event (and a
        `question` event per input it asks), in order.
        StatusChanged, with nothing changed, when one step is not where its change may come
        from; NotFound when the deployment or a step is gone.

        One statement per step, then one for all their event ids and one for all the events:
        steps that settle together (a layer of a wide deployment) cost one transaction."""
        now = utc(now)
        if not changes:
            return []
        async with self._db.write():
            await self._leases.hold(lease)
            for alike in _alike(changes):
                await self._steps(deployment_id, alike, now)
            bodies = [body for change in changes for body in _bodies(change)]
            counter = await self._db.fetch_one(
                _TAKE_EVENT_IDS, {"deployment": deployment_id, "count": len(bodies)}
            )
            if counter is None:
                raise NotFound(f"deployment {deployment_id}")
            first = int(counter["last_event_id"]) - len(bodies) + 1
            found = [
                Event(deployment_id, first + offset, now, type, body)
                for offset, (type, body) in enumerate(bodies)
            ]
            await self._events(found)
        self._notify(deployment_id)
        return found

    async def _deployment(
        self,
        deployment_id: int,
        status: DeploymentStatus,
        allowed_from: Collection[DeploymentStatus],
        now: datetime,
        reason: str | None,
        data: dict[str, Any] | None,
        lease: Lease | None,
    ) -> Event:
        values: dict[str, Any] = {
            "status": status.value,
            "reason": reason,
            "last_event_id": deployments.c.last_event_id + 1,
        }
        if status is DeploymentStatus.RUNNING:
            values["started_at"] = sa.func.coalesce(deployments.c.started_at, now)
        if status in FINISHED:
            values["finished_at"] = now
        row = await self._db.fetch_one(
            sa.update(deployments)
            .where(
                deployments.c.id == deployment_id,
                deployments.c.status.in_([source.value for source in allowed_from]),
            )
            .values(**values)
            .returning(deployments.c.last_event_id)
        )
        if row is None:
            current = await self._db.fetch_one(
                sa.select(deployments.c.status).where(deployments.c.id == deployment_id)
            )
            if current is None:
                raise NotFound(f"deployment {deployment_id}")
            raise StatusChanged(f"deployment {deployment_id}", current["status"], status.value)
        body = {**(data or {}), "status": status.value}
        if reason is not None:
            body["reason"] = reason
        return await self._event(deployment_id, int(row["last_event_id"]), "deployment", body, now)

    async def _steps(
        self, deployment_id: int, changes: Sequence[StepChange], now: datetime
    ) -> None:
        """One UPDATE for changes alike (the same status, sources and reason, as the steps of
        a layer that succeed together), each checked: StatusChanged or NotFound naming the
        first step that was not where its change may come from."""
        first = changes[0]
        names = [change.step for change in changes]
        rows = await self._db.fetch_all(
            _step_update(first.status),
            {
                "deployment": deployment_id,
                "names": names,
                "sources": sorted(source.value for source in first.allowed_from),
                "to_status": first.status.value,
                "to_reason": first.reason,
                "now": now,
            },
        )
        if len(rows) == len(names):
            return
        changed = {str(row["name"]) for row in rows}
        refused = next(name for name in names if name not in changed)
        current = await self._db.fetch_one(
            sa.select(steps_table.c.status).where(
                steps_table.c.deployment_id == deployment_id, steps_table.c.name == refused
            )
        )
        if current is None:
            raise NotFound(f"step {refused!r} of deployment {deployment_id}")
        raise StatusChanged(f"step {refused!r}", current["status"], first.status.value)

    async def _event(
        self, deployment_id: int, event_id: int, type: str, data: dict[str, Any], now: datetime
    ) -> Event:
        event = Event(deployment_id=deployment_id, id=event_id, at=now, type=type, data=data)
        await self._events([event])
        return event

    async def _events(self, found: Sequence[Event]) -> None:
        """Store `found` (of one deployment) and announce them to every instance."""
        await self._db.execute(
            _INSERT_EVENT,
            [
                {
                    "deployment_id": e.deployment_id,
                    "id": e.id,
                    "at": e.at,
                    "type": e.type,
                    "data": e.data,
                }
                for e in found
            ],
        )
        await announce(self._db, *{e.deployment_id for e in found})


# The statements of every step change, built once with bind parameters (see Db.fetch_one).

_TAKE_EVENT_IDS = (
    sa.update(deployments)
    .where(deployments.c.id == sa.bindparam("deployment"))
    .values(last_event_id=deployments.c.last_event_id + sa.bindparam("count", type_=sa.Integer))
    .returning(deployments.c.last_event_id)
)
"""Take `count` event ids of a deployment: the last of them is returned."""

_INSERT_EVENT = sa.insert(events)
"""Run with a list of rows: one compiled statement however many events (executemany)."""


def _build_step_update(stamp: str | None) -> ClauseElement:
    values: dict[str, Any] = {
        "status": sa.bindparam("to_status"),
        "reason": sa.bindparam("to_reason"),
    }
    now = sa.bindparam("now", type_=steps_table.c.started_at.type)
    if stamp == "started_at":
        values["started_at"] = sa.func.coalesce(steps_table.c.started_at, now)
    elif stamp == "finished_at":
        values["finished_at"] = now
    return (
        sa.update(steps_table)
        .where(
            steps_table.c.deployment_id == sa.bindparam("deployment"),
            steps_table.c.name.in_(sa.bindparam("names", expanding=True)),
            steps_table.c.status.in_(sa.bindparam("sources", expanding=True)),
        )
        .values(**values)
        .returning(steps_table.c.name)
    )


_STEP_UPDATES = {stamp: _build_step_update(stamp) for stamp in (None, "started_at", "finished_at")}


def _step_update(status: StepStatus) -> ClauseElement:
    """The UPDATE of steps changing to `status`: `started_at` set on the first `applying`,
    `finished_at` when final."""
    if status is StepStatus.APPLYING:
        return _STEP_UPDATES["started_at"]
    if status in STEP_FINISHED:
        return _STEP_UPDATES["finished_at"]
    return _STEP_UPDATES[None]


def _alike(changes: Sequence[StepChange]) -> list[list[StepChange]]:
    """`changes` in runs of neighbours that one UPDATE can make: the same status, sources and
    reason, each step once."""
    runs: list[list[StepChange]] = []
    for change in changes:
        last = runs[-1] if runs else None
        if (
            last is not None
            and last[0].status is change.status
            and set(last[0].allowed_from) == set(change.allowed_from)
            and last[0].reason == change.reason
            and all(other.step != change.step for other in last)
        ):
            last.append(change)
        else:
            runs.append([change])
    return runs


def _bodies(change: StepChange) -> list[tuple[str, dict[str, Any]]]:
    """The events of one step change: its `step` event, then a `question` per input asked."""
    body: dict[str, Any] = {"step": change.step, "status": change.status.value}
    if change.reason is not None:
        body["reason"] = change.reason
    asked = [("question", {"step": change.step, "input": name}) for name in change.questions]
    return [("step", body), *asked]
