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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from runway.deploy import RenderSettings, Target
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError
from runway.deploy.steps import StepError, run_step
from runway.executor.answers import Resolved, resolve
from runway.executor.secrets import read_secret_values
from runway.executor.states import STEP_FINAL, check_deployment, step_sources
from runway.planner import Plan, plan_from_document
from runway.store import Deployment, DeploymentStatus, Environment, StepStatus, Store
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
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.deployment = deployment
        self.environment = environment
        self.limits = limits
        self.slots = slots
        self.settings = settings
        self.clock = clock
        self.plan: Plan = plan_from_document(deployment.plan)
        self.status = {step.name: step.status for step in deployment.steps}
        self.failure: tuple[str, str] | None = None
        self.cancelling = False
        self.wake = asyncio.Event()
        self.running: dict[str, asyncio.Task[None]] = {}
        self.waiting_ready: set[str] = set()

    # -- signals from outside (answers, cancel) ------------------------------------------------

    def answered(self) -> None:
        """New answers were stored: waiting steps look again."""
        self.wake.set()

    def cancel(self) -> None:
        """Stop starting steps, stop readiness waits now, let applies finish, end `cancelled`."""
        self.cancelling = True
        for name in self.waiting_ready:
            self.running[name].cancel()
        self.wake.set()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> DeploymentStatus:
        """Run to the end; the final status."""
        failed = [n for n, s in self.status.items() if s is S.FAILED]
        if failed:  # an earlier instance stopped between the step's failure and the end
            self.failure = (failed[0], "failed before runway restarted")
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
                    if self.status[name] is S.SUCCEEDED:
                        scheduler.done(name)

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
                    await self._step(name, S.WAITING_FOR_INPUT, f"needs {', '.join(missing)}")
                left.append(name)
            elif len(self.running) < self.limits.per_deployment:
                self.running[name] = asyncio.create_task(self._run_step(name, answers))
            else:
                left.append(name)
        return left

    async def _next_change(self) -> None:
        """Until a step task ends or a signal comes."""
        waiter = asyncio.create_task(self.wake.wait())
        try:
            await asyncio.wait(
                [waiter, *self.running.values()], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        self.wake.clear()

    async def _show_waiting(self) -> None:
        """The deployment is `waiting_for_input` while any step is, `running` otherwise."""
        waiting = any(s is S.WAITING_FOR_INPUT for s in self.status.values())
        current = self.deployment.status
        wanted = D.WAITING_FOR_INPUT if waiting and not self.cancelling else D.RUNNING
        if wanted is not current and self.failure is None and not self.cancelling:
            await self._deployment(wanted)

    # -- one step ------------------------------------------------------------------------------

    async def _run_step(self, name: str, answers: Resolved) -> None:
        async with self.slots:
            if self.cancelling:
                return
            try:
                await self._step(name, S.APPLYING)
                values = await read_secret_values(
                    self.cluster, self.environment.namespace, self.plan, name, answers
                )
                target = Target(
                    namespace=self.environment.namespace,
                    environment=self.environment.name,
                    deployment=self.deployment.number,
                    answers=answers.values,
                    secrets=answers.secrets,
                    secret_values=values,
                    settings=self.settings,
                )

                async def applied() -> None:
                    await self._step(name, S.WAITING_READY)
                    self.waiting_ready.add(name)
                    if self.cancelling:
                        raise asyncio.CancelledError

                await run_step(
                    self.cluster,
                    self.plan,
                    name,
                    target,
                    timeout=self.limits.step_timeout,
                    on_applied=applied,
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
            except DeployError as error:  # reading a secret value: the cluster's words
                self._failed(name, str(error))
                await self._step(name, S.FAILED, str(error))

    def _failed(self, name: str, reason: str) -> None:
        log.info("deployment %s step %s failed: %s", self.deployment.id, name, reason)
        if self.failure is None:
            self.failure = (name, reason)

    # -- the end -------------------------------------------------------------------------------

    async def _succeed(self) -> DeploymentStatus:
        await self._deployment(D.SUCCEEDED)
        return D.SUCCEEDED

    async def _end(self, status: D, unstarted: S, reason: str) -> DeploymentStatus:
        """Every step not final becomes `unstarted` (skipped or cancelled), then the deployment
        `status`, each with its event."""
        changes = [
            StepChange(
                name, unstarted, step_sources(unstarted), reason if unstarted is S.SKIPPED else None
            )
            for name, current in self.status.items()
            if current not in STEP_FINAL
        ]
        await self.store.transitions.steps(self.deployment.id, changes, now=self.clock())
        for change in changes:
            self.status[change.step] = change.status
        data: dict[str, Any] = {}
        if self.failure is not None:
            data["step"] = self.failure[0]
        await self._deployment(status, reason, data)
        return status

    # -- stored transitions --------------------------------------------------------------------

    async def _step(self, name: str, status: S, reason: str | None = None) -> None:
        await self.store.transitions.steps(
            self.deployment.id,
            [StepChange(name, status, step_sources(status), reason)],
            now=self.clock(),
        )
        self.status[name] = status

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
        )
        self.deployment = _with_status(self.deployment, status)

    async def _answers(self) -> Resolved:
        given = await self.store.deployments.answers(self.deployment.id)
        earlier = await self.store.deployments.last_succeeded(
            self.environment.id, self.deployment.app, before=self.deployment.number
        )
        reused: Sequence[Any] = ()
        if earlier is not None:
            reused = await self.store.deployments.answers(earlier.id)
        return resolve(self.plan.config, given, reused)


def _with_status(deployment: Deployment, status: DeploymentStatus) -> Deployment:
    return replace(deployment, status=status)
