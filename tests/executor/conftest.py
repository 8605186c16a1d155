"""Worlds for the executor's tests: a store (SQLite and Postgres: tests/store's fixtures) and the
simulated cluster in its own process (tests/deploy's), with an environment of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from runway.deploy.environment_objects import EnvironmentSpec
from runway.deploy.environments import delete_environment, prepare_environment
from runway.executor.executor import Executor
from runway.executor.run import Limits
from runway.planner import plan_source, plan_to_document
from runway.store import Deployment, Environment, Store, User
from runway.store.records import Role
from tests.deploy.conftest import World, sim_process, world  # noqa: F401 (fixtures)
from tests.store.conftest import anyio_backend, backend, postgres, store, store_url  # noqa: F401
from tests.store.store_worlds import NOW

QUOTA = {
    "requests.cpu": "20",
    "requests.memory": "40Gi",
    "limits.cpu": "40",
    "limits.memory": "80Gi",
    "pods": "200",
}


@dataclass
class Place:
    """A user, their environment (its namespace prepared in the cluster) and the world."""

    store: Store
    world: World
    user: User
    environment: Environment

    def executor(self, **limits: float) -> Executor:
        return Executor(self.store, self.world.cluster, limits=Limits(**limits))  # type: ignore[arg-type]

    async def deployment(self, text: str) -> Deployment:
        plan = plan_source(text)
        deployment, _ = await self.store.deployments.create(
            self.environment,
            self.user,
            app=plan.app,
            config_text=text,
            config_format="yaml",
            plan=plan_to_document(plan),
            steps=[(step.name, step.kind.value) for step in plan.steps],
            now=NOW,
        )
        return deployment

    async def reread(self, deployment: Deployment) -> Deployment:
        found = await self.store.deployments.get(deployment.id)
        assert found is not None
        return found


@pytest.fixture
async def place(store: Store, world: World) -> AsyncIterator[Place]:  # noqa: F811
    world.require_sim()
    user = await store.users.create(f"u{uuid.uuid4().hex[:8]}", "hash", Role.MEMBER)
    environment = await store.environments.create(user, "staging", NOW)
    await prepare_environment(
        world.cluster, EnvironmentSpec(environment.namespace, user.name, "staging", QUOTA)
    )
    await world.behave(ready_delay=0.05)
    try:
        yield Place(store, world, user, environment)
    finally:
        await delete_environment(world.cluster, environment.namespace)
