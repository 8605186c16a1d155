"""What a run does for restore points: the one a deployment takes as it starts, and a rollback's
steps of kind `backup` (a restore point of the state it is about to undo) and `restore` (the
app's workloads scaled to zero, their pods gone, each volume put back as it was after the
deployment the rollback goes back to). DESIGN.md, Executing: rollback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from runway.deploy.backup import backup_exists, restore, stop_app
from runway.deploy.errors import DeployError
from runway.deploy.names import volume_claim_name
from runway.deploy.volume_ops import BackupFailed
from runway.executor import restore_points
from runway.executor.states import STEP_STARTED
from runway.planner import Plan, StepKind, plan_from_document
from runway.store import Deployment, Environment, StepStatus, Store
from runway.store.restore_points import RestorePoint, VolumeBackup

if TYPE_CHECKING:
    from runway.executor.run import DeploymentRun

log = logging.getLogger("runway.executor")

VOLUME_STEPS = frozenset({StepKind.BACKUP, StepKind.RESTORE})


async def start_restore_point(run: DeploymentRun) -> str | None:
    """Take the deployment's restore point unless it has one or is a rollback (whose `backup`
    step takes it) or a step started already; the reason when it could not be taken."""
    deployment = run.deployment
    if deployment.rollback_of is not None or not restore_points.all_volumes(run.plan):
        return None  # a rollback's own step takes it; an app without volumes has none
    if any(s in STEP_STARTED or s is StepStatus.SUCCEEDED for s in run.status.values()):
        return None  # resumed after its steps began: the restore point was stored before
    store, environment = run.store, run.environment
    if await store.restore_points.of_deployment(deployment.id) is not None:
        return None
    run._check_lease()
    answers = await run._answers()
    volumes = await restore_points.volumes_to_back_up(
        store, environment, deployment, run.plan, answers
    )
    try:
        point = await _take(run, volumes)
    except DeployError as error:
        log.info("deployment %s: restore point failed: %s", deployment.id, error)
        return f"the restore point could not be taken, so nothing was changed: {error}"
    await _said(run, point)
    if point.volumes:
        await _prune(run)
    return None


async def _take(run: DeploymentRun, volumes: list[restore_points.Volume]) -> RestorePoint:
    """A restore point of `volumes` for the run's deployment, its writes fenced by the run's
    lease."""
    return await restore_points.take(
        run.store,
        run.cluster,
        run.environment,
        run.deployment,
        volumes,
        timeout=run.limits.step_timeout,
        now=run.clock(),
        snapshot_class=run.settings.snapshot_class,
        lease=run.lease,
        may_act=run._check_lease,
    )


async def _said(run: DeploymentRun, point: RestorePoint) -> None:
    await run.store.transitions.event(
        run.deployment.id,
        "restore_point",
        {"status": "taken", "reason": restore_points.summary(point)},
        now=run.clock(),
        lease=run.lease,
    )


async def _prune(run: DeploymentRun) -> None:
    try:
        await restore_points.prune(
            run.store,
            run.cluster,
            run.environment,
            run.deployment.app,
            run.clock(),
            lease=run.lease,
        )
    except DeployError as error:  # kept for the next prune: not a reason to fail
        log.warning("deployment %s: restore points not pruned: %s", run.deployment.id, error)


async def run_volume_step(
    run: DeploymentRun, name: str, kind: StepKind, applied: Callable[[], Awaitable[None]]
) -> None:
    """A rollback's `backup` or `restore` step; a DeployError (BackupFailed) says why it
    failed."""
    await applied()
    if kind is StepKind.BACKUP:
        await _backup(run)
    else:
        await _restore(run)


async def _backup(run: DeploymentRun) -> None:
    """A restore point of every volume of the app as it is now, so the rollback can itself be
    undone."""
    store, environment, deployment = run.store, run.environment, run.deployment
    volumes = restore_points.all_volumes(run.plan)
    current_id = await store.restore_points.previous_started(
        environment.id, deployment.app, deployment.number
    )
    current = None if current_id is None else await store.deployments.get(current_id)
    if current is not None:
        volumes += [
            v
            for v in restore_points.all_volumes(plan_from_document(current.plan))
            if v not in volumes
        ]
    point = await _take(run, volumes)
    await _said(run, point)  # pruned once the rollback succeeded (`rollback_succeeded`)


async def rollback_succeeded(run: DeploymentRun) -> None:
    """Prune the app's restore points once a rollback succeeded, not before: until its
    restore is done, the one it restores from may be past the retention."""
    if run.deployment.rollback_of is not None:
        await _prune(run)


async def _restore(run: DeploymentRun) -> None:
    store, environment, deployment = run.store, run.environment, run.deployment
    good = await goes_back_to(store, environment, deployment)
    if good is None:
        raise BackupFailed("the deployment this rollback goes back to is gone")
    sources = await restore_sources(
        store, environment, deployment.app, run.plan, good.number, deployment.number
    )
    namespace = environment.namespace
    for claim, (point, backup) in sources.items():
        if point.pruned_at is not None or not await backup_exists(
            run.cluster, namespace, backup.method, backup.name
        ):
            raise BackupFailed(
                f"the backup of {claim} taken when deployment #{point.number} started is gone"
            )
    run._check_lease()
    await stop_app(run.cluster, namespace, deployment.app, timeout=run.limits.step_timeout)
    done: list[str] = []
    for claim, (_, backup) in sources.items():
        run._check_lease()
        try:
            await restore(
                run.cluster,
                namespace,
                deployment.app,
                claim=claim,
                method=backup.method,
                name=backup.name,
                size=backup.size,
                storage_class=backup.storage_class,
                job=restore_points.restore_job_name(claim, deployment.number),
                rollback=deployment.number,
                timeout=run.limits.step_timeout,
            )
        except BackupFailed as error:
            restored = f"restored already: {', '.join(done)}" if done else "none restored yet"
            raise BackupFailed(
                f"{error}; the app is left stopped (its workloads at zero replicas, volumes "
                f"{restored})"
            ) from error
        done.append(claim)
        log.info("deployment %s: restored %s from %s", deployment.id, claim, backup.name)


async def goes_back_to(
    store: Store, environment: Environment, rollback: Deployment
) -> Deployment | None:
    """The deployment a rollback re-applies: the app's latest success before the one it rolls
    back."""
    if rollback.rollback_of is None:
        return None
    undone = await store.deployments.get(rollback.rollback_of)
    if undone is None:
        return None
    return await store.deployments.last_succeeded(
        environment.id, rollback.app, before=undone.number
    )


async def restore_sources(
    store: Store, environment: Environment, app: str, plan: Plan, after: int, before: int
) -> dict[str, tuple[RestorePoint, VolumeBackup]]:
    """For each volume of `plan`, the earliest restore point taken after deployment `after`
    (and before `before`) that backs it up: the volume as it was when deployment `after` had
    run. A volume without one was not changed by any deployment since, and is left as is."""
    points = [
        p
        for p in await store.restore_points.of_app(environment.id, app)
        if after < p.number < before
    ]
    found = restore_points.by_claim(points)
    claims = {volume_claim_name(app, s, v) for s, v in restore_points.all_volumes(plan)}
    return {claim: found[claim] for claim in sorted(claims) if claim in found}
