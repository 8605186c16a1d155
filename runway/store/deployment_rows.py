"""Rows of deployments and steps as records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from runway.store.database import Row
from runway.store.records import Deployment, DeploymentStatus, Event, Step, StepStatus
from runway.store.tables import deployments, environments, users
from runway.store.types import aware

COLUMNS = (
    *(column for column in deployments.c if column.name != "last_event_id"),
    environments.c.name.label("env"),
    users.c.name.label("owner"),
)


def select_deployments() -> sa.Select[tuple[object, ...]]:
    return (
        sa.select(*COLUMNS)
        .join_from(deployments, environments, deployments.c.environment_id == environments.c.id)
        .join(users, environments.c.owner_id == users.c.id)
    )


def at(value: object) -> datetime:
    result = aware(value)
    assert result is not None
    return result


def deployment_of(row: Row, step_list: Sequence[Step]) -> Deployment:
    return Deployment(
        id=row["id"],
        environment_id=row["environment_id"],
        env=row["env"],
        owner=row["owner"],
        number=row["number"],
        app=row["app"],
        status=DeploymentStatus(row["status"]),
        created_by=row["created_by"],
        created_at=at(row["created_at"]),
        config_text=row["config_text"],
        config_format=row["config_format"],
        plan=row["plan"],
        reason=row["reason"],
        started_at=aware(row["started_at"]),
        finished_at=aware(row["finished_at"]),
        rollback_of=row["rollback_of"],
        steps=tuple(step_list),
        cancel_requested_at=aware(row["cancel_requested_at"]),
    )


def step_of(row: Row) -> Step:
    return Step(
        name=row["name"],
        position=row["position"],
        kind=row["kind"],
        status=StepStatus(row["status"]),
        reason=row["reason"],
        started_at=aware(row["started_at"]),
        finished_at=aware(row["finished_at"]),
    )


def event_of(row: Row) -> Event:
    return Event(
        deployment_id=row["deployment_id"],
        id=row["id"],
        at=at(row["at"]),
        type=row["type"],
        data=row["data"],
    )
