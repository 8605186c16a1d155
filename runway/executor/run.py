"""One deployment, run: its steps started as their own dependencies succeed, each stored before it
is acted on (DESIGN.md, Executing).

A `DeploymentRun` is driven by one task. It reads the deployment back from the store (so it
resumes one an earlier instance left half done: steps found applying or waiting for readiness are
applied again, which server-side apply makes harmless), hands ready steps out in plan order, puts
those lacking answers in `waiting_for_input` (holding no slot) and runs the others up to the
per-deployment limit and the instance's shared one. From the first failure nothing new starts,
running steps settle, and every step not started is `skipped`; a cancel stops readiness waits at
once, lets applies finish, and cancels what did not finish. After every step succeeded the app's
objects the deployment no longer has are pruned, then it is `succeeded`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from runway.deploy import RenderError, RenderSettings, Target, render_step
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError
from runway.deploy.steps import StepError, run_step
from runway.executor.answers import Resolved, resolve, reused_to_keep
from runway.executor.batch import StepWrites
from runway.executor.finish import finish, ingress_hosts
from runway.executor.rollback_steps import (
    VOLUME_STEPS,
    rollback_succeeded,
    run_volume_step,
    start_restore_point,
)
from runway.executor.secrets import read_secret_values
from runway.executor.states import STEP_FINAL, STEP_STARTED, check_deployment, step_sources
from runway.planner import Plan, plan_from_document
from runway.store import (
    Deployment,
    DeploymentStatus,
    Environment,
    HostNotAllowed,
    HostTaken,
    InvalidHost,
    StepStatus,
    Store,
    StoreError,
)
from runway.store.leases import Lease, LeaseLost
from runway.store.transitions import StepChange

log = logging.getLogger("runway.executor")

D = DeploymentStatus
S = StepStatus


@dataclass(frozen=True, slots=True)
class Limits:
    """How much runs at once and for how long."""

    per_deployment: int = 8
    """Steps of one deployment applying or waiting for readiness at once."""
    per_instance: int = 64
    """Steps of all deployments of this instance at once."""
    step_timeout: float = 600.0
    """Seconds a step's workload may take to become ready."""
    lease_ttl: float = 10.0
    """Seconds a deployment's lease lasts unless renewed: how long a crashed instance's
    deployments wait before another instance takes them over."""
    lease_renew: float = 3.0
    """Seconds between renewals of this instance's leases."""
    lease_scan: float = 3.0
    """Seconds between looks for deployments nobody holds (a crashed instance's)."""
    answers_recheck: float = 5.0
    """Seconds between readings of the answers while a step waits for some (answers come
    with a signal; this covers a signal lost on the way)."""


INTERRUPTED = "interrupted: the instance running it stopped before it settled"


def utcnow() -> datetime:
    return datetime.now(UTC)


class DeploymentRun:
    """The run of one started deployment on this instance."""

    def __init__(
        self,
        store: Store,
        cluster: Cluster,
        deployment: Deployment,
        environment: Environment,
        *,
        limits: Limits,
        slots: asyncio.Semaphore,
        settings: RenderSettings,
        lease: Lease | None = None,
        lease_valid: Callable[[], bool] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.lease = lease
        """Every write of this run is fenced by it: once lost, nothing more is written."""
        self.lease_valid = lease_valid
        """Whether the lease is surely still held by the clock of this process: checked before
        acting on the cluster, which the database's fence cannot guard."""
        self.cluster = cluster
        self.deployment = deployment
        self.environment = environment
        self.limits = limits
        self.slots = slots
        self.settings = settings
        self.clock = clock
        self.plan: Plan = plan_from_document(deployment.plan)
        self.status = _Statuses((step.name, step.status) for step in deployment.steps)
        self.failure: tuple[str, str] | None = None
        self.cancelling = False
        self.wake = asyncio.Event()
        self.running: dict[str, asyncio.Task[None]] = {}
        self._resolved: Resolved | None = None
        self._generation = 0
        """Bumped by `answered()`: answers read before it are not kept."""
        """The answers as last read; read again after `answered()` or a while of waiting."""
        self._reused: Sequence[Any] | None = None
        """The answers of the app's last successful deployment (fixed for this run)."""
        self._kept = False
        """Whether the reused answers were stored with the deployment (once per run)."""
        self.waiting_ready: set[str] = set()
        self._writes = StepWrites(self._store_steps)
        self._asked: set[str] = set()
        """The inputs this run asked for (a `question` event each, once)."""

    # -- signals from outside (answers, cancel) ------------------------------------------------

    def answered(self) -> None:
        """New answers were stored: waiting steps look again."""
        self._resolved = None
        self._generation += 1
        self.wake.set()

    def cancel(self) -> None:
        """Stop starting steps, stop readiness waits now, let applies finish, end `cancelled`."""
        if self.cancelling:
            return
        self.cancelling = True
        for name in self.waiting_ready:
            task = self.running.get(name)
            if task is not None:
                task.cancel()
        self.wake.set()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> DeploymentStatus:
        """Run to the end; the final status. Stopped (cancelled, or the store failing), it
        stops its steps too and leaves their states as stored, for a resume."""
        try:
            return await self._loop()
        finally:
            await self._stop_steps()
            await self._writes.settle()

    async def _loop(self) -> DeploymentStatus:
        not_taken = await start_restore_point(self)
        if not_taken is not None:  # before any step touched the app: nothing changed
            return await self._end(D.FAILED, S.SKIPPED, not_taken)
        failed = [step for step in self.deployment.steps if step.status is S.FAILED]
        if failed:  # an earlier instance stopped between the step's failure and the end
            self.failure = (failed[0].name, failed[0].reason or "failed before runway restarted")
        if any(step.status is S.CANCELLED for step in self.deployment.steps):
            self.cancelling = True  # it stopped in the middle of ending a cancel: finish that
        scheduler = self.plan.scheduler(
            done=[n for n, s in self.status.items() if s is S.SUCCEEDED]
        )
        queue: list[str] = []  # handed out, not started: pending or waiting for answers
        while True:
            if self.failure is None and not self.cancelling:
                queue.extend(scheduler.get_ready())
                queue = await self._launch(queue)
            await self._show_waiting()
            if not self.running:
                if self.cancelling:
                    return await self._end(D.CANCELLED, S.CANCELLED, "cancelled")
                if self.failure is not None:
                    step, reason = self.failure
                    return await self._end(D.FAILED, S.SKIPPED, f"step {step} failed: {reason}")
                if not queue and not scheduler.is_active():
                    return await self._succeed()
            await self._next_change()
            for name, task in list(self.running.items()):
                if task.done():
                    del self.running[name]
                    self.waiting_ready.discard(name)
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        raise error  # the store failed under a step: the next start resumes
                    if self.status[name] is S.SUCCEEDED:
                        scheduler.done(name)

    async def _stop_steps(self) -> None:
        """Cancel and await every step task (their states stay as stored)."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.running.clear()

    async def _launch(self, queue: list[str]) -> list[str]:
        """Start the queued steps that have their answers, as slots allow; the rest stay."""
        if not queue:
            return queue
        answers = await self._answers()
        left: list[str] = []
        for name in queue:
            missing = answers.missing(self.plan.step(name).needs)
            if missing:
                if self.status[name] is not S.WAITING_FOR_INPUT:
                    asked = [input for input in missing if input not in self._asked]
                    self._asked.update(asked)
                    await self._step(
                        name, S.WAITING_FOR_INPUT, f"needs {', '.join(missing)}", asked
                    )
                left.append(name)
            elif len(self.running) < self.limits.per_deployment:
                self.running[name] = asyncio.create_task(self._run_step(name, answers))
            else:
                left.append(name)
        return left

    async def _next_change(self) -> None:
        """Until a step task ends or a signal comes. While a step waits for answers, the
        answers are read again every `answers_recheck` seconds too, in case a signal of answers
        stored elsewhere was lost."""
        waiting = bool(self.status.waiting)
        waiter = asyncio.create_task(self.wake.wait())
        try:
            done, _ = await asyncio.wait(
                [waiter, *self.running.values()],
                timeout=self.limits.answers_recheck if waiting else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            waiter.cancel()
        if not done:  # a while of waiting without a word: read the answers again
            self._resolved = None
        self.wake.clear()

    async def _show_waiting(self) -> None:
        """The deployment is `waiting_for_input` while any step is, `running` otherwise."""
        waiting = bool(self.status.waiting)
        current = self.deployment.status
        wanted = D.WAITING_FOR_INPUT if waiting and not self.cancelling else D.RUNNING
        if wanted is not current and self.failure is None and not self.cancelling:
            await self._deployment(wanted)

    # -- one step ------------------------------------------------------------------------------

    async def _run_step(self, name: str, answers: Resolved) -> None:
        async with self.slots:
            if self.cancelling or self.failure is not None:
                return  # still pending or waiting: the end skips or cancels it
            try:
                await self._step(name, S.APPLYING)
                self.wake.set()  # the deployment may no longer be waiting for input
                self._check_lease()  # it reads from the cluster next
                values = await read_secret_values(
                    self.cluster, self.environment.namespace, self.plan, name, answers
                )
                target = self._target(answers, values)
                await self._claim_hosts(name, target)
                self._check_lease()

                async def applied() -> None:
                    self._check_lease()
                    await self._step(name, S.WAITING_READY)
                    self.waiting_ready.add(name)
                    if self.cancelling:
                        raise asyncio.CancelledError

                kind = self.plan.step(name).kind
                if kind in VOLUME_STEPS:  # a rollback's backup or restore
                    await run_volume_step(self, name, kind, applied)
                else:
                    await run_step(
                        self.cluster,
                        self.plan,
                        name,
                        target,
                        timeout=self.limits.step_timeout,
                        on_applied=applied,
                        may_act=self._check_lease,
                    )
                self.waiting_ready.discard(name)
                await self._step(name, S.SUCCEEDED)
            except asyncio.CancelledError:
                if not self.cancelling:
                    raise  # the instance is stopping: a restart resumes the step
                await self._step(name, S.CANCELLED, "cancelled while waiting for readiness")
            except StepError as error:
                self._failed(name, error.reason)
                await self._step(name, S.FAILED, error.reason)
            except (DeployError, HostTaken, HostNotAllowed, InvalidHost) as error:
                # Reading a secret value (the cluster's words) or claiming a host.
                self._failed(name, str(error))
                await self._step(name, S.FAILED, str(error))

    def _target(self, answers: Resolved, values: Mapping[str, str]) -> Target:
        return Target(
            namespace=self.environment.namespace,
            environment=self.environment.name,
            deployment=self.deployment.number,
            answers=answers.values,
            secrets=answers.secrets,
            secret_values=values,
            settings=self.settings,
        )

    async def _claim_hosts(self, name: str, target: Target) -> None:
        """Claim the hosts the step's Ingress routes before it is applied (a templated host is
        known only now; a literal one was claimed when the deployment was created, and claiming
        it again changes nothing). A step that cannot be rendered claims nothing: run_step
        reports why."""
        service = self.plan.config.services.get(name)
        if service is None or service.expose is None:
            return
        try:
            manifests = render_step(self.plan, name, target)
        except RenderError:
            return
        hosts = ingress_hosts(manifests)
        if hosts:
            await self.store.hosts.claim(self.environment.id, self.deployment.app, hosts)

    def _check_lease(self) -> None:
        """LeaseLost unless the lease is surely still held: an instance that was paused, or cut
        off from the database, must not act on the cluster for a deployment another instance
        may have taken over."""
        if self.lease is not None and self.lease_valid is not None and not self.lease_valid():
            raise LeaseLost(self.lease)

    def _failed(self, name: str, reason: str) -> None:
        log.info("deployment %s step %s failed: %s", self.deployment.id, name, reason)
        if self.failure is None:
            self.failure = (name, reason)

    # -- the end -------------------------------------------------------------------------------

    async def _succeed(self) -> DeploymentStatus:
        """Prune what the deployment no longer has, free the hosts it no longer exposes, then
        `succeeded`. Every step succeeded, so the app runs as asked: a pruning that cannot
        finish does not fail it, it says so (the objects stay until the next success)."""
        reason = None
        self._check_lease()
        try:
            target = self._target(await self._answers(), {})
            pruned = await finish(
                self.store, self.cluster, self.environment, self.deployment, self.plan, target
            )
        except (DeployError, RenderError, StoreError) as error:
            log.warning("deployment %s: pruning did not finish: %s", self.deployment.id, error)
            reason = f"pruning did not finish ({error}); what it would remove stays for now"
        else:
            if pruned.orphaned_volumes:
                kept = ", ".join(pruned.orphaned_volumes)
                reason = f"volumes no longer used are kept until you confirm deleting them: {kept}"
        await rollback_succeeded(self)
        await self._deployment(D.SUCCEEDED, reason)
        return D.SUCCEEDED

    async def _end(self, status: D, unstarted: S, reason: str) -> DeploymentStatus:
        """Every step not final becomes `unstarted` (skipped or cancelled), and the deployment
        `status`, each with its event, in one transaction."""
        changes = []
        for name, current in self.status.items():
            if current in STEP_FINAL:
                continue
            if current in STEP_STARTED:
                # Left applying or waiting by an instance that stopped after the failure (or
                # the cancel): nothing settles it now.
                changes.append(
                    StepChange(name, S.CANCELLED, step_sources(S.CANCELLED), INTERRUPTED)
                )
            else:
                said = reason if unstarted is S.SKIPPED else None
                changes.append(StepChange(name, unstarted, step_sources(unstarted), said))
        data: dict[str, Any] = {}
        if self.failure is not None:
            data["step"] = self.failure[0]
        async with self.store.transitions.together():
            await self.store.transitions.steps(
                self.deployment.id, changes, now=self.clock(), lease=self.lease
            )
            await self._deployment(status, reason, data)
        for change in changes:
            self.status[change.step] = change.status
        return status

    # -- stored transitions --------------------------------------------------------------------

    async def _step(
        self, name: str, status: S, reason: str | None = None, questions: Sequence[str] = ()
    ) -> None:
        """Store the step's change (with a `question` event for each of `questions`)."""
        change = StepChange(name, status, step_sources(status), reason, tuple(questions))
        await self._writes.write(change)
        self.status[name] = status

    async def _store_steps(self, changes: Sequence[StepChange]) -> None:
        await self.store.transitions.steps(
            self.deployment.id, changes, now=self.clock(), lease=self.lease
        )

    async def _deployment(
        self, status: D, reason: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        check_deployment(self.deployment.status, status)
        await self.store.transitions.deployment(
            self.deployment.id,
            status,
            allowed_from=(self.deployment.status,),
            now=self.clock(),
            reason=reason,
            data=data,
            lease=self.lease,
        )
        self.deployment = _with_status(self.deployment, status)

    async def _answers(self) -> Resolved:
        """The deployment's answers by precedence, read once and again after `answered()`."""
        if self._resolved is not None:
            return self._resolved
        if self._reused is None:
            earlier = await self.store.deployments.last_succeeded(
                self.environment.id, self.deployment.app, before=self.deployment.number
            )
            self._reused = (
                () if earlier is None else await self.store.deployments.answers(earlier.id)
            )
        generation = self._generation
        given = await self.store.deployments.answers(self.deployment.id)
        resolved = resolve(self.plan.config, given, self._reused)
        if not self._kept:  # the reused answers stored with it, for the next deployment
            await self.store.deployments.keep_answers(
                self.deployment.id, reused_to_keep(resolved, given)
            )
            self._kept = True
        if generation == self._generation:
            self._resolved = resolved
        return resolved


def _with_status(deployment: Deployment, status: DeploymentStatus) -> Deployment:
    return replace(deployment, status=status)


class _Statuses(dict[str, StepStatus]):
    """Each step's status by name, knowing which steps wait for input without a scan of a
    thousand steps at each turn of the loop."""

    def __init__(self, items: Iterable[tuple[str, StepStatus]]) -> None:
        super().__init__()
        self.waiting: set[str] = set()
        for name, status in items:
            self[name] = status

    def __setitem__(self, name: str, status: StepStatus) -> None:
        super().__setitem__(name, status)
        if status is StepStatus.WAITING_FOR_INPUT:
            self.waiting.add(name)
        else:
            self.waiting.discard(name)
