"""The executor of one runway instance: starts, cancels and resumes deployments, each run by a
task of its own (runway.executor.run), with one limit on steps shared by all of them.

Several instances share one database (DESIGN.md, Executing): each deployment runs on the
instance that holds its lease (runway.store.leases). This instance renews its leases every
`lease_renew` seconds, and a run whose lease could not be renewed stops at once, before it acts on
the cluster again; every `lease_scan` seconds it takes the leases nobody holds (a crashed
instance's deployments, which then resume exactly where the database says they were); and every
ROLLBACK_SCAN seconds (and when it starts) it creates and starts the automatic rollbacks a
stopped instance left undone (runway.executor.rollback.resume_after_failure).

The API calls `start`, `cancel` and `answered`; the server calls `resume` when it starts (the
first scan, then the background loops) and `close` when it stops (runs stop without writing
anything, and their leases are released so another instance takes them over at once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime

from runway.deploy import RenderSettings
from runway.deploy.connection import Cluster
from runway.deploy.errors import ClusterUnavailable
from runway.executor.rollback import after_failure, resume_after_failure
from runway.executor.run import DeploymentRun, Limits, utcnow
from runway.executor.states import ACTIVE, check_deployment
from runway.store import Deployment, DeploymentStatus, Environment, NotFound, Store, StoreError
from runway.store.leases import Lease, LeaseLost
from runway.store.notify import MISSED, Signal
from runway.store.transitions import ActiveDeployment, StatusChanged

log = logging.getLogger("runway.executor")

D = DeploymentStatus
RELEASED = "released"
"""The signal of an instance that stopped and released its leases: others take them at once."""
CANCEL_SETTLE = 60.0
"""Seconds `cancel` waits for running steps to settle before it answers."""
ROLLBACK_SCAN = 30.0
"""Seconds between looks for automatic rollbacks a stopped instance left undone."""


def instance_name() -> str:
    """This process's name among runway's instances: host, process id and a random part (a
    restarted process never passes for its earlier self)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Executor:
    """Deployments run by this instance."""

    takeovers = 0
    """How many deployments this instance took over (a `lease` event each), for /metrics."""

    def __init__(
        self,
        store: Store,
        cluster: Cluster | None,
        *,
        limits: Limits | None = None,
        settings: RenderSettings | None = None,
        cluster_problem: str | None = None,
        instance: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.cluster_problem = cluster_problem
        self.limits = limits or Limits()
        self.settings = settings or RenderSettings()
        self.instance = instance or instance_name()
        self.clock = clock
        self._slots = asyncio.Semaphore(self.limits.per_instance)
        self._runs: dict[int, DeploymentRun] = {}
        self._tasks: dict[int, asyncio.Task[DeploymentStatus | None]] = {}
        self._leases: dict[int, Lease] = {}
        self._valid_until: dict[int, float] = {}
        """By this process's monotonic clock, until when each lease is surely held."""
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False

    async def start(self, deployment: Deployment) -> None:
        """`created` -> `running`, then run it here. ClusterUnavailable (nothing changed) when
        no cluster is configured or it does not answer; the store's ActiveDeployment or
        StatusChanged when another deployment of the app is active or this one is not
        `created`."""
        cluster = self._cluster()
        await cluster.version()
        check_deployment(deployment.status, D.RUNNING)
        await self.store.transitions.start(deployment.id, now=self.clock())
        lease = await self.store.leases.take(deployment.id, self.instance, self.limits.lease_ttl)
        if lease is not None:  # else another instance's scan took it first: it runs there
            self._spawn(lease)

    async def cancel(self, deployment: Deployment) -> None:
        """Cancel: a `created` one at once; a running one stops starting steps, stops its
        readiness waits and ends `cancelled` once its applies settled (waited for here, up to
        CANCEL_SETTLE seconds). The request is written first and signalled to whichever
        instance runs it (this one, another, or one that takes it over after a crash). The
        store's StatusChanged when it is already final."""
        check_deployment(deployment.status, D.CANCELLED)
        if deployment.status is D.CREATED:
            try:
                await self.store.transitions.deployment(
                    deployment.id, D.CANCELLED, allowed_from=(D.CREATED,), now=self.clock()
                )
                return
            except StatusChanged as error:
                if error.current not in ACTIVE:
                    raise
                # Started since it was read: cancel it as the running deployment it is.
        await self.store.deployments.request_cancel(deployment.id, self.clock())
        run = self._runs.get(deployment.id)
        if run is not None:
            run.cancel()
        elif await self.store.leases.current(deployment.id) is None and self.cluster is not None:
            # Nobody runs it (its instance is gone): run it here to end every step properly.
            lease = await self.store.leases.take(
                deployment.id, self.instance, self.limits.lease_ttl
            )
            if lease is not None:
                self._spawn(lease, took_over=True)
        task = self._tasks.get(deployment.id)
        if task is not None:
            await asyncio.wait([task], timeout=CANCEL_SETTLE)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_SETTLE
        while loop.time() < deadline:  # another instance runs it: until it says so
            found = await self.store.deployments.get(deployment.id)
            if found is None or found.status not in ACTIVE:
                return
            await asyncio.sleep(0.1)

    async def answered(self, deployment_id: int) -> None:
        """New answers were stored for the deployment: its waiting steps look again, here or
        on the instance that runs it."""
        run = self._runs.get(deployment_id)
        if run is not None:
            run.answered()
        else:
            await self.store.signals.send(deployment_id, "answer")

    def running(self, deployment_id: int) -> bool:
        """Whether this instance runs the deployment now."""
        return deployment_id in self._tasks

    async def resume(self) -> int:
        """Take the deployments nobody holds (left running or waiting for input by a stopped
        instance) and run them; how many. Then keep renewing this instance's leases and
        looking for more in the background until `close`. Without a cluster nothing is taken:
        they stay as they are for an instance that has one."""
        if self.cluster is None:
            return 0
        taken = await self._take_free()
        self._keep_leases()
        if taken:
            log.info("took over %d deployment(s)", taken)
        try:
            await self._rollbacks_left()
        except Exception as error:  # the next scan tries again; starting goes on
            log.warning("executor: automatic rollbacks left undone: %s", error)
        return taken

    async def wait(self, deployment_id: int) -> DeploymentStatus | None:
        """Until this instance's run of the deployment ends; its final status (None when it
        does not run here or stopped without finishing)."""
        task = self._tasks.get(deployment_id)
        return None if task is None else await asyncio.shield(task)

    async def close(self) -> None:
        """Stop taking work, stop every run without writing, and release their leases: another
        instance takes them over at once and resumes them where the database says."""
        self._closing = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        released = list(self._leases.values())
        for lease in released:
            try:
                await self.store.leases.release(lease)
            except Exception as error:
                log.warning("could not release deployment %s: %s", lease.deployment_id, error)
        self._leases.clear()
        if released:
            try:
                await self.store.signals.send(released[0].deployment_id, RELEASED)
            except Exception as error:
                log.warning("could not announce the released deployments: %s", error)

    # -- leases ------------------------------------------------------------------------------

    def _keep_leases(self) -> None:
        """Start the background loops (once): renewing this instance's leases, and taking the
        ones nobody holds."""
        if self._loops or self._closing:
            return
        self._loops = [
            asyncio.create_task(self._every(self.limits.lease_renew, self._renew)),
            asyncio.create_task(self._every(self.limits.lease_scan, self._take_free)),
            asyncio.create_task(self._every(ROLLBACK_SCAN, self._rollbacks_left)),
            asyncio.create_task(self._signalled()),
        ]

    async def _signalled(self) -> None:
        """Act on signals for the deployments this instance runs: answers and cancels sent by
        any instance. When signals may have been lost, every run reads its answers again and
        looks for a cancel request."""
        with self.store.signals.subscribe() as signals:
            async for signal in signals:
                try:
                    await self._act_on(signal)
                except Exception as error:  # the database away for a moment: not the end
                    log.warning("executor: %s", error)

    async def _act_on(self, signal: Signal) -> None:
        if signal.kind == RELEASED:
            await self._take_free()  # an instance stopped and let its deployments go
            return
        if signal.kind == MISSED:
            for deployment_id, run in list(self._runs.items()):
                run.answered()
                found = await self.store.deployments.get(deployment_id)
                if found is not None and found.cancel_requested_at is not None:
                    run.cancel()
            return
        owned = self._runs.get(signal.deployment_id or 0)
        if owned is None:
            return
        if signal.kind == "cancel":
            owned.cancel()
        elif signal.kind == "answer":
            owned.answered()

    async def _every(self, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception as error:  # the database away for a moment: try again next time
                log.warning("executor: %s", error)

    async def _take_free(self) -> int:
        if self._closing or self.cluster is None:
            return 0
        room = self.limits.per_instance - len(self._tasks)
        if room <= 0:
            return 0
        taken = await self.store.leases.take_free(
            self.instance, self.limits.lease_ttl, room, exclude=list(self._tasks)
        )
        for lease in taken:
            self._spawn(lease, took_over=True)
        return len(taken)

    async def _rollbacks_left(self) -> None:
        """Create and start the automatic rollbacks a stopped instance left undone."""
        if self._closing or self.cluster is None:
            return
        for created in await resume_after_failure(
            self.store, self.cluster, self.instance, self.limits.lease_ttl, self.clock()
        ):
            try:
                await self.start(created)
            except (StatusChanged, ActiveDeployment) as error:  # another instance started it
                log.info("rollback %s not started here: %s", created.id, error)

    async def _renew(self) -> None:
        """Renew every lease; a run whose lease is lost stops at once, writing nothing."""
        for deployment_id, lease in list(self._leases.items()):
            began = asyncio.get_running_loop().time()
            try:
                kept = await self.store.leases.renew(lease, self.limits.lease_ttl)
            except StoreError as error:
                log.warning("could not renew deployment %s: %s", deployment_id, error)
                continue  # it may still be renewed before it lapses
            if kept:
                self._valid_until[deployment_id] = self._held_until(began)
                continue
            log.warning("lost the lease of deployment %s: stopping its run", deployment_id)
            self._leases.pop(deployment_id, None)
            self._valid_until.pop(deployment_id, None)
            task = self._tasks.get(deployment_id)
            if task is not None:
                task.cancel()

    def _held_until(self, began: float) -> float:
        """Until when a lease taken or renewed at `began` is surely held: its time to live,
        less a margin for the clocks of this process and the database to disagree a little."""
        ttl = self.limits.lease_ttl
        return began + ttl - min(1.0, ttl / 4)

    def _lease_valid(self, deployment_id: int) -> Callable[[], bool]:
        def valid() -> bool:
            until = self._valid_until.get(deployment_id)
            return until is not None and asyncio.get_running_loop().time() < until

        return valid

    # -- runs ------------------------------------------------------------------------------

    def _cluster(self) -> Cluster:
        if self.cluster is None:
            raise ClusterUnavailable(
                self.cluster_problem
                or "no cluster is configured: start runway with --kube PATH, or --kube sim "
                "for the simulated cluster"
            )
        return self.cluster

    def _spawn(self, lease: Lease, *, cancelled: bool = False, took_over: bool = False) -> None:
        """Run the deployment `lease` holds here; `took_over`: taken by a scan (from an instance
        that stopped, or that started it and lost the race), which a `lease` event naming this
        instance says."""
        deployment_id = lease.deployment_id
        if deployment_id in self._tasks or self._closing:
            return
        self._leases[deployment_id] = lease
        self._valid_until[deployment_id] = self._held_until(asyncio.get_running_loop().time())
        self._keep_leases()
        task = asyncio.create_task(self._run(lease, cancelled, took_over))
        self._tasks[deployment_id] = task
        task.add_done_callback(lambda _: self._forget(deployment_id, task))

    def _forget(self, deployment_id: int, task: asyncio.Task[DeploymentStatus | None]) -> None:
        if self._tasks.get(deployment_id) is task:
            del self._tasks[deployment_id]
            self._runs.pop(deployment_id, None)

    async def _run(self, lease: Lease, cancelled: bool, took_over: bool) -> DeploymentStatus | None:
        deployment_id = lease.deployment_id
        try:
            deployment = await self.store.deployments.get(deployment_id)
            if deployment is None or deployment.status not in ACTIVE:
                await self._release(lease)
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
                lease=lease,
                lease_valid=self._lease_valid(deployment_id),
                clock=self.clock,
            )
            self._runs[deployment_id] = run
            if took_over:  # once it is set up: a takeover that cannot run writes nothing
                await self.store.transitions.event(
                    deployment_id,
                    "lease",
                    {"instance": self.instance},
                    now=self.clock(),
                    lease=lease,
                )
                self.takeovers += 1  # counted for /metrics
            if not cancelled and deployment.cancel_requested_at is None:
                # A cancel may have come while the run was being set up (its signal found no
                # run to tell): look once more now that signals reach it.
                again = await self.store.deployments.get(deployment_id)
                cancelled = again is not None and again.cancel_requested_at is not None
            if cancelled or deployment.cancel_requested_at is not None:
                run.cancel()
            status = await run.run()
            log.info("deployment %s ended %s", deployment_id, status)
            if status is D.FAILED:
                await self._roll_back(run.deployment, environment, lease)
            await self._release(lease)
            return status
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.warning("deployment %s is run by another instance now", deployment_id)
            self._leases.pop(deployment_id, None)
            return None
        except Exception:
            # A bug or the database gone: the deployment stays as stored; when the lease
            # lapses, an instance (this one too) takes it over and resumes it.
            log.exception("deployment %s stopped", deployment_id)
            self._leases.pop(deployment_id, None)  # no longer renewed: it lapses
            return None

    async def _roll_back(self, failed: Deployment, environment: Environment, lease: Lease) -> None:
        """`on_failure: rollback`: start the rollback of the deployment that just failed (a
        refusal is an event on it). Never a reason for the failed run to end otherwise."""
        try:
            created = await after_failure(
                self.store, self._cluster(), environment, failed, self.clock(), lease
            )
            if created is not None:
                await self.start(created)
        except Exception as error:  # the person can still roll back by hand
            log.warning("deployment %s: automatic rollback not started: %s", failed.id, error)

    async def _release(self, lease: Lease) -> None:
        if self._leases.get(lease.deployment_id) == lease:
            del self._leases[lease.deployment_id]
        await self.store.leases.release(lease)
