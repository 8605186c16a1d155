"""Rolling back deployment N (DESIGN.md, Executing: rollback): never silent. `prepare` works out
what it would do and refuses, saying why, what cannot be done; `dry_run` says it in words
(what changes, which volumes go back to which moment, which data is lost since when); `create`
stores it as a new deployment (`rollback_of: N`) that re-applies the app's latest deployment
that succeeded before N with that deployment's own answers and Secrets, after two steps of its
own: `backup` (a restore point of the state it undoes) and `restore` (the volumes put back).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from runway.deploy.backup import backup_exists
from runway.deploy.connection import Cluster
from runway.executor import restore_points
from runway.executor.answers import Resolved
from runway.executor.rollback_diff import config_changes, value_changes
from runway.executor.rollback_steps import restore_sources
from runway.executor.states import ACTIVE
from runway.planner import Plan, Step, StepKind, plan_from_document, plan_to_document
from runway.store import Answer, Deployment, Environment, OnFailure, Store, User
from runway.store.leases import Lease
from runway.store.restore_points import RestorePoint, VolumeBackup

log = logging.getLogger("runway.executor")


class RollbackRefused(Exception):
    """A rollback that cannot be done; the message says why, in words for the person."""


@dataclass(frozen=True)
class Rollback:
    """What rolling back `undone` does, worked out."""

    environment: Environment
    undone: Deployment
    good: Deployment
    """The deployment it re-applies."""
    good_plan: Plan
    good_answers: Resolved
    current: Deployment
    """The deployment whose workloads the cluster runs now."""
    current_plan: Plan
    current_answers: Resolved
    sources: dict[str, tuple[RestorePoint, VolumeBackup]]


async def prepare(
    store: Store, cluster: Cluster | None, environment: Environment, undone: Deployment
) -> Rollback:
    """The rollback of `undone`; RollbackRefused when there is no earlier success, another
    deployment of the app is active, or a restore point it needs is missing."""
    app = undone.app
    if undone.started_at is None:
        raise RollbackRefused(
            f"deployment #{undone.number} never started, so there is nothing to roll back"
        )
    active = [
        d
        for d in await store.deployments.active()
        if d.environment_id == environment.id and d.app == app and d.status in ACTIVE
    ]
    if active:
        raise RollbackRefused(
            f"deployment #{active[0].number} of {app} is {active[0].status}: wait for it to end "
            "or cancel it first"
        )
    good = await store.deployments.last_succeeded(environment.id, app, before=undone.number)
    if good is None:
        raise RollbackRefused(
            f"no deployment of {app} succeeded before #{undone.number}: there is no earlier "
            "version to go back to"
        )
    current_id = await store.restore_points.previous_started(environment.id, app, 1 << 30)
    current = (await store.deployments.get(current_id)) if current_id is not None else None
    current = current or undone
    good_plan = plan_from_document(good.plan)
    sources = await restore_sources(store, environment, app, good_plan, good.number, 1 << 30)
    for claim, (point, backup) in sources.items():
        gone = point.pruned_at is not None
        if not gone and cluster is not None:
            gone = not await backup_exists(
                cluster, environment.namespace, backup.method, backup.name
            )
        if gone:
            raise RollbackRefused(
                f"the restore point of volume {claim} taken when deployment #{point.number} "
                "started is missing (pruned or deleted), so the volume cannot be put back as it "
                f"was after #{good.number}"
            )
    return Rollback(
        environment=environment,
        undone=undone,
        good=good,
        good_plan=good_plan,
        good_answers=await restore_points.resolved_answers(store, environment, good),
        current=current,
        current_plan=plan_from_document(current.plan),
        current_answers=await restore_points.resolved_answers(store, environment, current),
        sources=sources,
    )


def _at(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def dry_run(rollback: Rollback) -> dict[str, Any]:
    """What the rollback would do, step by step, and what it loses."""
    good, current = rollback.good, rollback.current
    diff = config_changes(rollback.current_plan.config, rollback.good_plan.config)
    values = value_changes(
        rollback.current_plan.config,
        rollback.current_answers,
        rollback.good_plan.config,
        rollback.good_answers,
    )
    volumes = []
    lost = []
    for claim, (point, backup) in rollback.sources.items():
        volumes.append(
            {
                "claim": claim,
                "service": backup.service,
                "volume": backup.volume,
                "method": backup.method,
                "restore_point_of": point.number,
                "as_of": _at(point.taken_at),
            }
        )
        lost.append(
            f"everything written to volume {claim} ({backup.service}/{backup.volume}) since "
            f"{_at(point.taken_at)}, when deployment #{point.number} started, is lost"
        )
    restored = set(rollback.sources)
    kept = [
        claim
        for claim in (
            f"{good.app}-{s}-{v}" for s, v in restore_points.all_volumes(rollback.good_plan)
        )
        if claim not in restored
    ]
    steps: list[dict[str, Any]] = [
        {
            "step": "backup",
            "does": "takes a restore point of every volume of the app as it is now, so this "
            "rollback can itself be undone",
        },
        {
            "step": "restore",
            "does": "scales the app's workloads to zero, waits for their pods to go, then puts "
            + (
                ", ".join(f"{v['claim']} back as of {v['as_of']}" for v in volumes)
                or "no volume back"
            ),
        },
    ]
    for step in rollback.good_plan.steps:
        if step.kind not in (StepKind.SERVICE, StepKind.JOB):
            continue
        changes = [c for c in diff["changes"] if c["service"] == step.name]
        steps.append({"step": step.name, "kind": step.kind.value, "changes": changes})
    return {
        "deployment": {"id": rollback.undone.id, "number": rollback.undone.number},
        "environment": rollback.environment.name,
        "goes_back_to": {
            "id": good.id,
            "number": good.number,
            "finished_at": _at(good.finished_at),
        },
        "current": {"id": current.id, "number": current.number, "status": current.status.value},
        "steps": steps,
        "changes": diff["changes"],
        "values": values,
        "objects": {"added": diff["added"], "removed": diff["removed"]},
        "volumes": volumes,
        "volumes_kept": kept,
        "data_lost": lost,
        "confirm": f"to roll back, send confirm: {rollback.environment.name!r}",
    }


def rollback_plan(plan: Plan) -> Plan:
    """`plan` with a `backup` and a `restore` step before everything (names that are not the
    configuration's)."""
    own = {s.name for s in plan.steps if s.kind in (StepKind.BACKUP, StepKind.RESTORE)}
    shift = 2 if own else 0  # the plan of a rollback: its own backup and restore go
    taken = set(plan.config.services)
    backup = _free("backup", taken)
    restore = _free("restore", taken | {backup})
    steps = [
        Step(backup, StepKind.BACKUP, (), 0, (), ()),
        Step(restore, StepKind.RESTORE, (backup,), 1, (), ()),
    ]
    for step in plan.steps:
        if step.name in own:
            continue
        depends = tuple(d for d in step.depends_on if d not in own) or (restore,)
        steps.append(replace(step, depends_on=depends, depth=step.depth - shift + 2))
    critical = tuple(name for name in plan.critical_path if name not in own)
    return Plan(plan.config, tuple(steps), (backup, restore, *critical))


def _free(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    return candidate


async def create(store: Store, rollback: Rollback, user: User, now: datetime) -> Deployment:
    """Store the rollback as a new deployment (`created`), with the answers the deployment it
    re-applies had."""
    plan = rollback_plan(rollback.good_plan)
    deployment, _ = await store.deployments.create(
        rollback.environment,
        user,
        app=rollback.good.app,
        config_text=rollback.good.config_text,
        config_format=rollback.good.config_format,
        plan=plan_to_document(plan),
        steps=[(step.name, step.kind.value) for step in plan.steps],
        now=now,
        rollback_of=rollback.undone.id,
    )
    answers = rollback.good_answers
    given = [
        Answer(input=name, source="answer", value=value) for name, value in answers.values.items()
    ] + [
        Answer(input=name, source="answer", secret_name=ref.name, secret_key=ref.key)
        for name, ref in answers.secrets.items()
    ]
    await store.deployments.put_answers(deployment.id, given)
    return deployment


async def after_failure(
    store: Store,
    cluster: Cluster,
    environment: Environment,
    failed: Deployment,
    now: datetime,
    lease: Lease | None = None,
) -> Deployment | None:
    """When the environment says `on_failure: rollback`, the rollback of `failed` (created, for
    the caller to start), with an event on `failed` saying so, or saying why it was refused. A
    failed rollback is not rolled back again: that is for a person to look at."""
    environment = await store.environments.by_id(environment.id) or environment  # as set now
    if environment.on_failure is not OnFailure.ROLLBACK or failed.rollback_of is not None:
        return None
    failed = await store.deployments.get(failed.id) or failed  # its steps as they ended
    if not any(step.started_at is not None for step in failed.steps):
        await store.transitions.event(
            failed.id,
            "rollback",
            {"status": "not_needed", "reason": "no automatic rollback: nothing was changed"},
            now=now,
            lease=lease,
        )
        return None
    user = await store.users.get(failed.created_by)
    try:
        if user is None:
            raise RollbackRefused("the person who made the deployment is gone")
        rollback = await prepare(store, cluster, environment, failed)
    except RollbackRefused as error:
        said = f"automatic rollback refused: {error}"
        await store.transitions.event(
            failed.id, "rollback", {"status": "refused", "reason": said}, now=now, lease=lease
        )
        return None
    created = await create(store, rollback, user, now)
    await store.transitions.event(
        failed.id,
        "rollback",
        {
            "status": "created",
            "reason": f"automatic rollback: deployment #{created.number} goes back to "
            f"#{rollback.good.number}",
        },
        now=now,
        lease=lease,
    )
    return created


LEFT_FOR_PEOPLE = timedelta(hours=1)
"""A failure older than this whose automatic rollback was left undone (its instance stopped,
and nothing ran runway for that long) is left to a person: rolling back unasked so late, or
because the policy was set since, would surprise more than it helps."""


async def resume_after_failure(
    store: Store,
    cluster: Cluster,
    instance: str,
    lease_ttl: float,
    now: datetime,
) -> list[Deployment]:
    """The automatic rollbacks an instance that stopped left undone (between a failure and the
    rollback's creation, or before starting it): created now where needed; the `created`
    rollbacks for the caller to start. Each failed deployment is handled under its own lease,
    so instances looking at once do not both create one (a lease is held by one of them; the
    other finds it held, or, once it is released, the `rollback` event and the rollback)."""
    to_start: list[Deployment] = []
    for failed_id in await store.restore_points.rollbacks_left(now - LEFT_FOR_PEOPLE):
        lease = await store.leases.take(failed_id, instance, lease_ttl)
        if lease is None:
            continue  # its own instance (or another) is at it
        try:
            created = await _resume_one(store, cluster, failed_id, now, lease)
        except Exception as error:  # this one waits for the next look; the others go on
            log.warning("deployment %s: automatic rollback not resumed: %s", failed_id, error)
            continue
        finally:
            await store.leases.release(lease)
        if created is not None:
            to_start.append(created)
    return to_start


async def _resume_one(
    store: Store, cluster: Cluster, failed_id: int, now: datetime, lease: Lease
) -> Deployment | None:
    made = await store.restore_points.rollback_of(failed_id)
    if made is not None:
        rollback_id, status = made
        return await store.deployments.get(rollback_id) if status == "created" else None
    if await store.restore_points.has_event(failed_id, "rollback"):
        return None  # decided already (refused, or not needed)
    failed = await store.deployments.get(failed_id)
    environment = None if failed is None else await store.environments.by_id(failed.environment_id)
    if failed is None or environment is None:
        return None
    return await after_failure(store, cluster, environment, failed, now, lease)
