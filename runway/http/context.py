"""What every handler reaches through the request: settings, the store, the clock, the
cluster and the executor."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request

from runway.auth import InviteSigner
from runway.deploy.connection import Cluster
from runway.executor.executor import Executor
from runway.http.settings import Settings
from runway.planner import Plan
from runway.store import Store

HASHING_THREADS = 2
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Built by create_app; one per application."""

    settings: Settings
    store: Store
    now: Callable[[], datetime] = field(default=utc_now)
    signer: InviteSigner | None = None
    """Made on first use from the installation's key in the database."""
    plans: OrderedDict[int, Plan] = field(default_factory=OrderedDict)
    """Stored plans already read, by deployment id, least recently used first."""
    cluster: Cluster | None = None
    """The Kubernetes cluster deployments go to; None when none was found at start-up."""
    cluster_problem: str | None = None
    """Why there is no cluster, for /healthz and for refusing to start deployments."""
    executor: Executor | None = None
    """Runs the deployments this instance starts or resumes (made by create_app)."""
    prepared: set[int] = field(default_factory=set)
    """Environments whose namespace this process has made sure of (by id): a secret answer
    then stores its Secret without preparing the namespace again."""
    hashing: anyio.CapacityLimiter | None = None
    """Password hashing takes 64 MiB and tens of milliseconds a call: a burst of logins must
    queue for a few threads, not take gigabytes."""

    async def password_work(self, work: Callable[..., T], *args: Any) -> T:
        """Run a password hasher call in a thread, a few at a time."""
        if self.hashing is None:
            self.hashing = anyio.CapacityLimiter(HASHING_THREADS)
        return await anyio.to_thread.run_sync(work, *args, limiter=self.hashing)


def context(request: Request) -> Context:
    found = request.app.state.runway
    assert isinstance(found, Context)
    return found


def executor(request: Request) -> Executor:
    """The app's executor (create_app always makes one)."""
    found = context(request).executor
    assert found is not None
    return found
