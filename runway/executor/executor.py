"""The executor of one runway instance: starts, cancels and resumes deployments, each run by a
task of its own (runway.executor.run), with one limit on steps shared by all of them.

The API calls `start`, `cancel` and `answered`; the server calls `resume` when it starts (every
deployment left running or waiting for input is picked up again from the database) and `close`
when it stops (runs stop without writing anything: the next start resumes them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from runway.deploy import RenderSettings
from runway.deploy.connection import Cluster
from runway.deploy.errors import ClusterUnavailable
from runway.executor.run import DeploymentRun, Limits, utcnow
from runway.executor.states import ACTIVE, check_deployment
from runway.store import Deployment, DeploymentStatus, NotFound, Store

log = logging.getLogger("runway.executor")

D = DeploymentStatus
CANCEL_SETTLE = 60.0
"""Seconds `cancel` waits for running steps to settle before it answers."""


class Executor:
    """Deployments run by this instance."""

    def __init__(
        self,
        store: Store,
        cluster: Cluster | None,
        *,
        limits: Limits | None = None,
        settings: RenderSettings | None = None,
        cluster_problem: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.cluster_problem = cluster_problem
        self.limits = limits or Limits()
        self.settings = settings or RenderSettings()
        self.clock = clock
        self._slots = asyncio.Semaphore(self.limits.per_instance)
        self._runs: dict[int, DeploymentRun] = {}
        self._tasks: dict[int, asyncio.Task[DeploymentStatus | None]] = {}

    async def start(self, deployment: Deployment) -> None:
        """`created` -> `running`, then run it. ClusterUnavailable (nothing changed) when no
        cluster is configured or it does not answer; the store's ActiveDeployment or
        StatusChanged when another deployment of the app is active or this one is not
        `created`."""
        cluster = self._cluster()
        await cluster.version()
        check_deployment(deployment.status, D.RUNNING)
        await self.store.transitions.start(deployment.id, now=self.clock())
        self._spawn(deployment.id)

    async def cancel(self, deployment: Deployment) -> None:
        """Cancel: a `created` one at once; a running one stops starting steps, stops its
        readiness waits and ends `cancelled` once its applies settled (waited for here, up to
        CANCEL_SETTLE seconds). The store's StatusChanged when it is already final."""
        check_deployment(deployment.status, D.CANCELLED)
        if deployment.status is D.CREATED:
            await self.store.transitions.deployment(
                deployment.id, D.CANCELLED, allowed_from=(D.CREATED,), now=self.clock()
            )
            return
        run = self._runs.get(deployment.id)
        if run is None:
            # Active, but no run here (its instance is gone, or it has not resumed yet): run
            # it to cancel it, which ends every step properly.
            self._spawn(deployment.id, cancelled=True)
            run = self._runs.get(deployment.id)
        if run is not None:
            run.cancel()
        task = self._tasks.get(deployment.id)
        if task is not None:
            await asyncio.wait([task], timeout=CANCEL_SETTLE)

    def answered(self, deployment_id: int) -> None:
        """New answers were stored for the deployment: its waiting steps look again."""
        run = self._runs.get(deployment_id)
        if run is not None:
            run.answered()

    def running(self, deployment_id: int) -> bool:
        """Whether this instance runs the deployment now."""
        return deployment_id in self._tasks

    async def resume(self) -> int:
        """Pick up every deployment left running or waiting for input; how many. Without a
        cluster they stay as they are until one is configured."""
        if self.cluster is None:
            return 0
        active = await self.store.deployments.active()
        for deployment in active:
            self._spawn(deployment.id)
        if active:
            log.info("resumed %d deployment(s)", len(active))
        return len(active)

    async def wait(self, deployment_id: int) -> DeploymentStatus | None:
        """Until this instance's run of the deployment ends; its final status (None when it
        does not run here or stopped without finishing)."""
        task = self._tasks.get(deployment_id)
        return None if task is None else await asyncio.shield(task)

    async def close(self) -> None:
        """Stop every run without writing: the next instance to start resumes them."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- runs ------------------------------------------------------------------------------

    def _cluster(self) -> Cluster:
        if self.cluster is None:
            raise ClusterUnavailable(
                self.cluster_problem
                or "no cluster is configured: start runway with --kube PATH, or --kube sim "
                "for the simulated cluster"
            )
        return self.cluster

    def _spawn(self, deployment_id: int, *, cancelled: bool = False) -> None:
        if deployment_id in self._tasks:
            return
        task = asyncio.create_task(self._run(deployment_id, cancelled))
        self._tasks[deployment_id] = task
        task.add_done_callback(lambda _: self._forget(deployment_id, task))

    def _forget(self, deployment_id: int, task: asyncio.Task[DeploymentStatus | None]) -> None:
        if self._tasks.get(deployment_id) is task:
            del self._tasks[deployment_id]
            self._runs.pop(deployment_id, None)

    async def _run(self, deployment_id: int, cancelled: bool) -> DeploymentStatus | None:
        try:
            deployment = await self.store.deployments.get(deployment_id)
            if deployment is None or deployment.status not in ACTIVE:
                return None
            environment = await self.store.environments.by_id(deployment.environment_id)
            if environment is None:
                raise NotFound(f"environment {deployment.environment_id}")
            run = DeploymentRun(
                self.store,
                self._cluster(),
                deployment,
                environment,
                limits=self.limits,
                slots=self._slots,
                settings=self.settings,
                clock=self.clock,
            )
            self._runs[deployment_id] = run
            if cancelled:
                run.cancel()
            status = await run.run()
            log.info("deployment %s ended %s", deployment_id, status)
            return status
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug or the database gone: the deployment stays as stored; a restart resumes it.
            log.exception("deployment %s stopped", deployment_id)
            return None
