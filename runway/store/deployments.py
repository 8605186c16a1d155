"""Deployments with their steps, answers and events."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runway.store import pages
from runway.store.database import Db, Row
from runway.store.deployment_rows import deployment_of, event_of, select_deployments, step_of
from runway.store.errors import NotFound
from runway.store.notify import EventHub, Signals, announce
from runway.store.records import (
    Answer,
    Deployment,
    DeploymentStatus,
    Environment,
    Event,
    Step,
    StepStatus,
    User,
)
from runway.store.tables import answers, deployments, environments, events
from runway.store.tables import steps as steps_table
from runway.store.types import utc


class Deployments:
    def __init__(self, db: Db, hub: EventHub, signals: Signals) -> None:
        self._db = db
        self._hub = hub
        self.signals = signals

    async def create(
        self,
        environment: Environment,
        created_by: User,
        *,
        app: str,
        config_text: str,
        config_format: str,
        plan: dict[str, Any],
        steps: Sequence[tuple[str, str]],
        now: datetime,
        rollback_of: int | None = None,
    ) -> tuple[Deployment, builtins.list[int]]:
        """Store a deployment with its plan and `steps` ((name, kind) in plan order, positions
        from 0), all `pending`, and its event 1, in one transaction. Older `created` deployments
        of the same app in the environment become `superseded`, each with its own event.
        Returns the deployment and the ids it superseded; NotFound when the environment is gone.
        """
        now = utc(now)
        async with self._db.write():
            # The counter on the environment row hands out numbers: the row lock serialises
            # concurrent creates (on every instance), so numbers are unique and contiguous.
            counter = await self._db.fetch_one(
                sa.update(environments)
                .where(environments.c.id == environment.id)
                .values(last_number=environments.c.last_number + 1)
                .returning(environments.c.last_number)
            )
            if counter is None:
                raise NotFound(f"environment {environment.name!r} of user {environment.owner!r}")
            number = int(counter["last_number"])
            row = await self._db.fetch_one(
                sa.insert(deployments)
                .values(
                    environment_id=environment.id,
                    number=number,
                    app=app,
                    status=DeploymentStatus.CREATED.value,
                    config_text=config_text,
                    config_format=config_format,
                    plan=plan,
                    created_by=created_by.id,
                    created_at=now,
                    rollback_of=rollback_of,
                    last_event_id=1,
                )
                .returning(deployments.c.id)
            )
            assert row is not None
            deployment_id = int(row["id"])
            step_rows = [
                {
                    "deployment_id": deployment_id,
                    "position": position,
                    "name": name,
                    "kind": kind,
                    "status": StepStatus.PENDING.value,
                }
                for position, (name, kind) in enumerate(steps)
            ]
            await self._db.insert_rows(steps_table, step_rows)
            await self._db.execute(
                sa.insert(events).values(
                    deployment_id=deployment_id,
                    id=1,
                    at=now,
                    type="deployment",
                    data={"status": DeploymentStatus.CREATED.value},
                )
            )
            superseded = await self._supersede(environment.id, app, number, now)
            await announce(self._db, deployment_id, *superseded)
        for other in superseded:
            self._hub.notify(other)
        deployment = Deployment(
            id=deployment_id,
            environment_id=environment.id,
            env=environment.name,
            owner=environment.owner,
            number=number,
            app=app,
            status=DeploymentStatus.CREATED,
            created_by=created_by.id,
            created_at=now,
            config_text=config_text,
            config_format=config_format,
            plan=plan,
            rollback_of=rollback_of,
            steps=tuple(
                Step(name=name, position=position, kind=kind, status=StepStatus.PENDING)
                for position, (name, kind) in enumerate(steps)
            ),
        )
        return deployment, superseded

    async def _supersede(
        self, environment_id: int, app: str, number: int, now: datetime
    ) -> builtins.list[int]:
        reason = f"superseded by deployment #{number}"
        # Each superseded deployment takes its next event id in the same statement.
        rows = await self._db.fetch_all(
            sa.update(deployments)
            .where(
                deployments.c.environment_id == environment_id,
                deployments.c.app == app,
                deployments.c.status == DeploymentStatus.CREATED.value,
                deployments.c.number < number,
            )
            .values(
                status=DeploymentStatus.SUPERSEDED.value,
                reason=reason,
                finished_at=now,
                last_event_id=deployments.c.last_event_id + 1,
            )
            .returning(deployments.c.id, deployments.c.last_event_id)
        )
        data = {"status": DeploymentStatus.SUPERSEDED.value, "reason": reason}
        await self._db.insert_rows(
            events,
            [
                {
                    "deployment_id": row["id"],
                    "id": row["last_event_id"],
                    "at": now,
                    "type": "deployment",
                    "data": data,
                }
                for row in rows
            ],
        )
        return sorted(int(row["id"]) for row in rows)

    async def get(self, deployment_id: int) -> Deployment | None:
        """The deployment with its steps in plan order."""
        async with self._db.session():
            row = await self._db.fetch_one(
                select_deployments().where(deployments.c.id == deployment_id)
            )
            if row is None:
                return None
            return (await self._with_steps([row]))[0]

    async def list(
        self, environment_id: int, *, limit: int, cursor: str | None
    ) -> tuple[builtins.list[Deployment], str | None]:
        """A page of the environment's deployments with their steps, newest first, and the
        cursor of the next page (None: no more)."""
        pages.check_limit(limit)
        query = (
            select_deployments()
            .where(deployments.c.environment_id == environment_id)
            .order_by(deployments.c.number.desc())
            .limit(limit + 1)
        )
        after = pages.decode(cursor)
        if after is not None:
            query = query.where(deployments.c.number < after)
        async with self._db.session():
            found = await self._with_steps(await self._db.fetch_all(query))
        return pages.page(found, limit, lambda deployment: deployment.number)

    async def latest_per_app(self, environment_id: int) -> builtins.list[Deployment]:
        """Each app's newest deployment in the environment (whatever its status), by app."""
        latest = (
            sa.select(deployments.c.app, sa.func.max(deployments.c.number).label("number"))
            .where(deployments.c.environment_id == environment_id)
            .group_by(deployments.c.app)
            .subquery()
        )
        query = (
            select_deployments()
            .join(
                latest,
                sa.and_(deployments.c.app == latest.c.app, deployments.c.number == latest.c.number),
            )
            .where(deployments.c.environment_id == environment_id)
            .order_by(deployments.c.app)
        )
        async with self._db.session():
            return await self._with_steps(await self._db.fetch_all(query))

    async def latest_started(self, environment_id: int, app: str) -> Deployment | None:
        """The app's newest deployment that was started (whatever became of it): the one whose
        workloads are in the cluster, unlike a newer one only created."""
        query = select_deployments().where(
            deployments.c.environment_id == environment_id,
            deployments.c.app == app,
            deployments.c.started_at.is_not(None),
        )
        async with self._db.session():
            row = await self._db.fetch_one(query.order_by(deployments.c.number.desc()).limit(1))
            return None if row is None else (await self._with_steps([row]))[0]

    async def last_succeeded(
        self, environment_id: int, app: str, *, before: int | None = None
    ) -> Deployment | None:
        """The app's newest `succeeded` deployment in the environment (numbered below
        `before` when given): whose answers a redeploy reuses, and what a rollback re-applies."""
        query = select_deployments().where(
            deployments.c.environment_id == environment_id,
            deployments.c.app == app,
            deployments.c.status == DeploymentStatus.SUCCEEDED.value,
        )
        if before is not None:
            query = query.where(deployments.c.number < before)
        async with self._db.session():
            row = await self._db.fetch_one(query.order_by(deployments.c.number.desc()).limit(1))
            return None if row is None else (await self._with_steps([row]))[0]

    async def newer_pending(self, environment_id: int, app: str, number: int) -> bool:
        """Whether the app has a deployment numbered above `number` in the environment that
        has not ended (created, running or waiting for input): its claims are its own."""
        row = await self._db.fetch_one(
            sa.select(deployments.c.id)
            .where(
                deployments.c.environment_id == environment_id,
                deployments.c.app == app,
                deployments.c.number > number,
                deployments.c.status.in_(
                    [
                        DeploymentStatus.CREATED.value,
                        DeploymentStatus.RUNNING.value,
                        DeploymentStatus.WAITING_FOR_INPUT.value,
                    ]
                ),
            )
            .limit(1)
        )
        return row is not None

    async def request_cancel(self, deployment_id: int, now: datetime) -> bool:
        """Record that a running (or waiting) deployment is to be cancelled, and signal its
        owner at commit; whether it was active. The owner reads the request again whenever
        signals may have been lost, and when it takes the deployment over."""
        now = utc(now)
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.update(deployments)
                .where(
                    deployments.c.id == deployment_id,
                    deployments.c.status.in_(
                        [DeploymentStatus.RUNNING.value, DeploymentStatus.WAITING_FOR_INPUT.value]
                    ),
                )
                .values(
                    cancel_requested_at=sa.func.coalesce(deployments.c.cancel_requested_at, now)
                )
                .returning(deployments.c.id)
            )
            if row is not None:
                await self.signals.send(deployment_id, "cancel")
        return row is not None

    async def active(self) -> builtins.list[Deployment]:
        """Every deployment running or waiting for input, oldest first: what an instance
        resumes when it starts."""
        query = (
            select_deployments()
            .where(
                deployments.c.status.in_(
                    [DeploymentStatus.RUNNING.value, DeploymentStatus.WAITING_FOR_INPUT.value]
                )
            )
            .order_by(deployments.c.id)
        )
        async with self._db.session():
            return await self._with_steps(await self._db.fetch_all(query))

    async def _with_steps(self, rows: Sequence[Row]) -> builtins.list[Deployment]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        by_deployment: dict[int, builtins.list[Step]] = {i: [] for i in ids}
        for step_row in await self._db.fetch_all(
            sa.select(steps_table)
            .where(steps_table.c.deployment_id.in_(ids))
            .order_by(steps_table.c.deployment_id, steps_table.c.position)
        ):
            by_deployment[step_row["deployment_id"]].append(step_of(step_row))
        return [deployment_of(row, by_deployment[row["id"]]) for row in rows]

    async def answers(self, deployment_id: int) -> builtins.list[Answer]:
        """The answers given to the deployment's inputs, by input name."""
        rows = await self._db.fetch_all(
            sa.select(answers)
            .where(answers.c.deployment_id == deployment_id)
            .order_by(answers.c.input)
        )
        return [
            Answer(
                input=row["input"],
                source=row["source"],
                value=row["value"],
                secret_name=row["secret_name"],
                secret_key=row["secret_key"],
            )
            for row in rows
        ]

    async def put_answers(self, deployment_id: int, given: Sequence[Answer]) -> None:
        """Store answers to the deployment's inputs, replacing earlier answers to the same
        inputs. A secret input's value never comes here: only its Secret's name and key."""
        if not given:
            return
        async with self._db.write():
            await self._db.execute(
                sa.delete(answers).where(
                    answers.c.deployment_id == deployment_id,
                    answers.c.input.in_([answer.input for answer in given]),
                )
            )
            await self._db.insert_rows(
                answers,
                [_answer_row(deployment_id, answer) for answer in given],
            )

    async def keep_answers(self, deployment_id: int, kept: Sequence[Answer]) -> None:
        """Store answers the deployment reused from an earlier one, for inputs it has no answer
        to yet: an answer given meanwhile stays (any number of instances may keep the same)."""
        if not kept:
            return
        insert = self._db.insert(answers).values(
            [_answer_row(deployment_id, answer) for answer in kept]
        )
        async with self._db.write():
            await self._db.execute(
                insert.on_conflict_do_nothing(
                    index_elements=[answers.c.deployment_id, answers.c.input]
                )
            )

    async def events(
        self, deployment_id: int, *, after: int = 0, limit: int = 1000
    ) -> builtins.list[Event]:
        """The deployment's events with ids above `after`, oldest first, at most `limit`."""
        params = {"deployment": deployment_id, "after": after, "limit": limit}
        rows = await self._db.fetch_all(_EVENTS_AFTER, params)
        return [event_of(row) for row in rows]

    async def add_event(
        self, deployment_id: int, type: str, data: dict[str, Any], now: datetime
    ) -> Event:
        """Store an event with the deployment's next event id (taken in the same transaction,
        so ids stay contiguous); NotFound when the deployment is gone."""
        now = utc(now)
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.update(deployments)
                .where(deployments.c.id == deployment_id)
                .values(last_event_id=deployments.c.last_event_id + 1)
                .returning(deployments.c.last_event_id)
            )
            if row is None:
                raise NotFound(f"deployment {deployment_id}")
            event_id = int(row["last_event_id"])
            await self._db.execute(
                sa.insert(events).values(
                    deployment_id=deployment_id, id=event_id, at=now, type=type, data=data
                )
            )
            await announce(self._db, deployment_id)
        self._hub.notify(deployment_id)
        return Event(deployment_id=deployment_id, id=event_id, at=now, type=type, data=data)


_EVENTS_AFTER = (
    sa.select(events)
    .where(
        events.c.deployment_id == sa.bindparam("deployment"), events.c.id > sa.bindparam("after")
    )
    .order_by(events.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
"""A deployment's events after an id, built once: every event stream reads it after each
change (Db.fetch_one says why)."""


def _answer_row(deployment_id: int, answer: Answer) -> dict[str, Any]:
    """An answer as its row of the `answers` table."""
    return {
        "deployment_id": deployment_id,
        "input": answer.input,
        "value": answer.value,
        "secret_name": answer.secret_name,
        "secret_key": answer.secret_key,
        "source": answer.source,
    }
