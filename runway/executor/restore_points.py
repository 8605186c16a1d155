"""Restore points (DESIGN.md, Executing and Kubernetes: Restore): when a deployment starts,
before any of its steps touches the app's workloads, every volume of the app that it changes
something for (the image, command, args, env, answers or the volume itself of a service that
mounts it) is backed up; the backups are stored with the deployment. Restore points past the
environment's retention are pruned, their backups deleted from the cluster.

Names are fixed in advance from the claim and the deployment's number (`<claim>-rp<number>`),
so a start resumed after a crash makes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from runway.deploy.backup import back_up, claim_of, delete_backup
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError
from runway.deploy.names import object_name, volume_claim_name
from runway.deploy.volume_ops import fit
from runway.executor.answers import Resolved, resolve
from runway.planner import Plan, plan_from_document
from runway.store import Deployment, Environment, Store
from runway.store.leases import Lease
from runway.store.restore_points import RestorePoint, VolumeBackup

log = logging.getLogger("runway.executor")

Volume = tuple[str, str]
"""(service, volume)"""


def backup_name(claim: str, number: int) -> str:
    """The VolumeSnapshot or backup PVC of `claim` in deployment `number`'s restore point."""
    return fit(f"{claim}-rp{number}")


def restore_job_name(claim: str, number: int) -> str:
    """The copy Job that puts `claim` back in rollback deployment `number`."""
    return fit(f"{claim}-rb{number}")


def all_volumes(plan: Plan) -> list[Volume]:
    return [
        (name, volume.name)
        for name, service in plan.config.services.items()
        for volume in service.volumes
    ]


def changed_volumes(
    plan: Plan, answers: Resolved, earlier: Plan | None, earlier_answers: Resolved | None
) -> list[Volume]:
    """The volumes whose service the deployment changes: the service's definition, or the
    answer of an input it needs, differs from the earlier deployment's (an unanswered one
    counts as changed). Everything, when there is no earlier deployment."""
    found: list[Volume] = []
    for name, service in plan.config.services.items():
        if not service.volumes:
            continue
        before = None if earlier is None else earlier.config.services.get(name)
        same = (
            before is not None
            and earlier_answers is not None
            and before == service
            and all(
                _answer(answers, i) is not None
                and _answer(answers, i) == _answer(earlier_answers, i)
                for i in plan.step(name).needs
            )
        )
        if not same:
            found.extend((name, volume.name) for volume in service.volumes)
    return found


def _answer(answers: Resolved, name: str) -> object:
    if name in answers.secrets:
        return ("secret", answers.secrets[name].name, answers.secrets[name].key)
    return answers.values.get(name)


async def resolved_answers(
    store: Store, environment: Environment, deployment: Deployment
) -> Resolved:
    """A deployment's answers as its run resolved them (its own, then its predecessor's)."""
    plan = plan_from_document(deployment.plan)
    earlier = await store.deployments.last_succeeded(
        environment.id, deployment.app, before=deployment.number
    )
    reused = () if earlier is None else await store.deployments.answers(earlier.id)
    return resolve(plan.config, await store.deployments.answers(deployment.id), reused)


async def volumes_to_back_up(
    store: Store, environment: Environment, deployment: Deployment, plan: Plan, answers: Resolved
) -> list[Volume]:
    """What starting `deployment` backs up, compared with the deployment the cluster runs.
    Everything, when that one stored no restore point: its backup failed or was cancelled, so
    none of its steps ran, and what it would have changed is not in the cluster (nor backed
    up): its retry must back up what it changes."""
    earlier_id = await store.restore_points.previous_started(
        environment.id, deployment.app, deployment.number
    )
    earlier = None if earlier_id is None else await store.deployments.get(earlier_id)
    if earlier is None or await store.restore_points.of_deployment(earlier.id) is None:
        return changed_volumes(plan, answers, None, None)
    earlier_answers = await resolved_answers(store, environment, earlier)
    return changed_volumes(plan, answers, plan_from_document(earlier.plan), earlier_answers)


async def take(
    store: Store,
    cluster: Cluster,
    environment: Environment,
    deployment: Deployment,
    volumes: Iterable[Volume],
    *,
    timeout: float,
    now: datetime,
    snapshot_class: str | None = None,
    lease: Lease | None = None,
    may_act: Callable[[], None] = lambda: None,
) -> RestorePoint:
    """Back up `volumes` (those with no bound claim yet hold nothing and are left out) and
    store the restore point; the one stored already when there is one. BackupFailed or
    DeployError when a backup cannot be made: nothing of the app's workloads changed but a
    copy's scaling. Backups take minutes: `may_act` (the run's lease check, LeaseLost when
    it may be lost) is asked before each volume, and the restore point is stored only while
    `lease` is held."""
    found = await store.restore_points.of_deployment(deployment.id)
    if found is not None:
        return found
    namespace, app = environment.namespace, deployment.app
    taken = []
    for service, volume in volumes:
        may_act()
        claim_name = volume_claim_name(app, service, volume)
        claim = await claim_of(cluster, namespace, claim_name)
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            continue
        if (claim.get("status") or {}).get("phase") != "Bound":
            continue  # never bound (waiting for a first pod, say): it holds no data yet
        made = await back_up(
            cluster,
            namespace,
            app,
            claim,
            name=backup_name(claim_name, deployment.number),
            deployment=deployment.number,
            workload=object_name(app, service),
            timeout=timeout,
            snapshot_class=snapshot_class,
        )
        taken.append(
            VolumeBackup(
                service=service,
                volume=volume,
                claim=claim_name,
                method=made.method,
                name=made.name,
                size=made.size,
                storage_class=made.storage_class,
                snapshot_class=made.snapshot_class,
                replicas=made.replicas,
            )
        )
    return await store.restore_points.record(
        deployment.id, environment.id, app, deployment.number, taken, now, lease=lease
    )


async def prune(
    store: Store,
    cluster: Cluster,
    environment: Environment,
    app: str,
    now: datetime,
    *,
    lease: Lease | None = None,
) -> list[int]:
    """Delete the backups of the app's restore points past the environment's retention
    (the newest ones with backups are kept); the numbers of the deployments pruned. A backup
    that cannot be deleted now is tried again at the next prune. Never pruned, whatever the
    retention: the restore points a rollback to the app's latest success restores from (for
    each volume, the earliest one taken after it). With `lease` (the pruning run's), a
    restore point is marked pruned only while it is held (LeaseLost otherwise)."""
    kept = await store.restore_points.kept(environment.id)
    points = await store.restore_points.of_app(environment.id, app)
    latest = await store.deployments.last_succeeded(environment.id, app)
    after = 0 if latest is None else latest.number
    needed = {p.number for p, _ in by_claim(p for p in points if p.number > after).values()}
    live = [point for point in points if point.pruned_at is None and point.volumes]
    pruned = []
    for point in live[: max(0, len(live) - kept)]:
        if point.number in needed:
            continue
        try:
            for backup in point.volumes:
                await delete_backup(cluster, environment.namespace, backup.method, backup.name)
        except DeployError as error:
            log.warning("restore point of deployment #%s not pruned: %s", point.number, error)
            continue
        await store.restore_points.mark_pruned(point.deployment_id, now, lease=lease)
        pruned.append(point.number)
    return pruned


def summary(point: RestorePoint) -> str:
    """A restore point in words (for an event)."""
    if not point.volumes:
        return "nothing to back up: no volume of the app is changed by this deployment"
    said = ", ".join(f"{b.claim} ({b.method} {b.name})" for b in point.volumes)
    return f"restore point taken: {said}"


def by_claim(points: Iterable[RestorePoint]) -> Mapping[str, tuple[RestorePoint, VolumeBackup]]:
    """For each claim, the earliest of `points` (oldest first) that backs it up."""
    found: dict[str, tuple[RestorePoint, VolumeBackup]] = {}
    for point in points:
        for backup in point.volumes:
            found.setdefault(backup.claim, (point, backup))
    return found
