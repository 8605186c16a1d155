"""Status changes of deployments and steps: compare-and-set with their events, on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runway.store import DeploymentStatus, NotFound, StepStatus, Store
from runway.store.transitions import ActiveDeployment, StatusChanged, StepChange, Transitions
from tests.store.store_worlds import NOW, a_deployment, a_user, an_environment

pytestmark = pytest.mark.anyio

D = DeploymentStatus
S = StepStatus
LATER = NOW + timedelta(seconds=5)


def transitions(store: Store) -> Transitions:
    return store.transitions


async def test_start_runs_a_created_deployment_with_its_event(store: Store) -> None:
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    event = await transitions(store).start(deployment.id, now=LATER)
    assert (event.id, event.type, event.data) == (2, "deployment", {"status": "running"})
    stored = await store.deployments.get(deployment.id)
    assert stored is not None
    assert (stored.status, stored.started_at, stored.finished_at) == (D.RUNNING, LATER, None)
    with pytest.raises(StatusChanged) as raised:
        await transitions(store).start(deployment.id, now=LATER)
    assert (raised.value.current, raised.value.wanted) == ("running", "running")
    assert [e.id for e in await store.deployments.events(deployment.id)] == [1, 2]


async def test_one_active_deployment_per_app_and_environment(store: Store) -> None:
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    first, _ = await a_deployment(store, staging, ann)
    await transitions(store).start(first.id, now=LATER)
    second, _ = await a_deployment(store, staging, ann)
    other_app, _ = await a_deployment(store, staging, ann, app="shop")
    with pytest.raises(ActiveDeployment) as raised:
        await transitions(store).start(second.id, now=LATER)
    assert (raised.value.number, raised.value.id) == (first.number, first.id)
    await transitions(store).start(other_app.id, now=LATER)  # another app is independent
    await transitions(store).deployment(first.id, D.SUCCEEDED, allowed_from=(D.RUNNING,), now=LATER)
    await transitions(store).start(second.id, now=LATER)


async def test_two_concurrent_starts_of_one_deployment_let_exactly_one_through(
    store: Store,
) -> None:
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    outcomes = await asyncio.gather(
        *(transitions(store).start(deployment.id, now=LATER) for _ in range(4)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, StatusChanged)]
    assert len(refused) == 3, outcomes
    assert [e.data for e in await store.deployments.events(deployment.id)] == [
        {"status": "created"},
        {"status": "running"},
    ]


async def test_a_start_racing_a_newer_deployment_either_runs_or_is_superseded(
    store: Store,
) -> None:
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    older, _ = await a_deployment(store, staging, ann)
    started, created = await asyncio.gather(
        transitions(store).start(older.id, now=LATER),
        a_deployment(store, staging, ann),
        return_exceptions=True,
    )
    newer, superseded = created  # type: ignore[misc]
    stored = await store.deployments.get(older.id)
    assert stored is not None
    if isinstance(started, StatusChanged):
        assert (stored.status, superseded) == (D.SUPERSEDED, [older.id])
    else:
        assert (stored.status, superseded) == (D.RUNNING, [])
        with pytest.raises(ActiveDeployment):
            await transitions(store).start(newer.id, now=LATER)


async def test_a_final_status_sets_finished_at_and_the_reason(store: Store) -> None:
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    await transitions(store).start(deployment.id, now=NOW)
    event = await transitions(store).deployment(
        deployment.id,
        D.FAILED,
        allowed_from=(D.RUNNING, D.WAITING_FOR_INPUT),
        now=LATER,
        reason="step web failed: ErrImagePull",
        data={"step": "web"},
    )
    assert event.data == {
        "status": "failed",
        "reason": "step web failed: ErrImagePull",
        "step": "web",
    }
    stored = await store.deployments.get(deployment.id)
    assert stored is not None
    assert (stored.status, stored.reason, stored.finished_at) == (
        D.FAILED,
        "step web failed: ErrImagePull",
        LATER,
    )
    with pytest.raises(StatusChanged):
        await transitions(store).deployment(
            deployment.id, D.RUNNING, allowed_from=(D.WAITING_FOR_INPUT,), now=LATER
        )
    with pytest.raises(NotFound):
        await transitions(store).deployment(
            deployment.id + 100, D.RUNNING, allowed_from=(D.CREATED,), now=LATER
        )


async def test_step_changes_are_all_or_none_with_contiguous_events(store: Store) -> None:
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    await transitions(store).start(deployment.id, now=NOW)
    events = await transitions(store).steps(
        deployment.id,
        [
            StepChange("db", S.APPLYING, (S.PENDING,)),
            StepChange("db", S.WAITING_READY, (S.APPLYING,)),
        ],
        now=LATER,
    )
    assert [(e.id, e.data) for e in events] == [
        (3, {"step": "db", "status": "applying"}),
        (4, {"step": "db", "status": "waiting_ready"}),
    ]
    with pytest.raises(StatusChanged):
        await transitions(store).steps(
            deployment.id,
            [
                StepChange("web", S.SKIPPED, (S.PENDING,), "db failed"),
                StepChange("db", S.APPLYING, (S.PENDING,)),  # db is waiting_ready: refused
            ],
            now=LATER,
        )
    stored = await store.deployments.get(deployment.id)
    assert stored is not None
    assert [(s.name, s.status) for s in stored.steps] == [
        ("db", S.WAITING_READY),
        ("web", S.PENDING),  # the first change of the refused batch was rolled back
    ]
    assert stored.steps[0].started_at == LATER
    assert [e.id for e in await store.deployments.events(deployment.id)] == [1, 2, 3, 4]
    with pytest.raises(NotFound):
        await transitions(store).steps(
            deployment.id, [StepChange("nope", S.APPLYING, (S.PENDING,))], now=LATER
        )


async def test_questions_follow_their_step_change_with_the_next_ids(store: Store) -> None:
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    await transitions(store).start(deployment.id, now=NOW)
    events = await transitions(store).steps(
        deployment.id,
        [
            StepChange("db", S.WAITING_FOR_INPUT, (S.PENDING,), "needs a, b", ("a", "b")),
            StepChange("web", S.WAITING_FOR_INPUT, (S.PENDING,), "needs a"),
        ],
        now=LATER,
    )
    assert [(e.id, e.type, e.data) for e in events] == [
        (3, "step", {"step": "db", "status": "waiting_for_input", "reason": "needs a, b"}),
        (4, "question", {"step": "db", "input": "a"}),
        (5, "question", {"step": "db", "input": "b"}),
        (6, "step", {"step": "web", "status": "waiting_for_input", "reason": "needs a"}),
    ]
    assert [e.id for e in await store.deployments.events(deployment.id)] == [1, 2, 3, 4, 5, 6]


async def test_changes_made_together_are_all_rolled_back_when_one_is_refused(
    store: Store,
) -> None:
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    await transitions(store).start(deployment.id, now=NOW)

    async def skip_then_refused_end() -> None:
        async with transitions(store).together():
            await transitions(store).steps(
                deployment.id, [StepChange("db", S.SKIPPED, (S.PENDING,))], now=LATER
            )
            await transitions(store).deployment(
                deployment.id, D.FAILED, allowed_from=(D.CREATED,), now=LATER
            )  # it is running: refused, and the skip above goes with it

    with pytest.raises(StatusChanged):
        await skip_then_refused_end()
    stored = await store.deployments.get(deployment.id)
    assert stored is not None
    assert stored.status is D.RUNNING
    assert [s.status for s in stored.steps] == [S.PENDING, S.PENDING]
    assert [e.id for e in await store.deployments.events(deployment.id)] == [1, 2]


async def test_alike_changes_in_one_statement_are_still_checked_step_by_step(
    store: Store,
) -> None:
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    await transitions(store).start(deployment.id, now=NOW)
    await transitions(store).steps(
        deployment.id, [StepChange("db", S.APPLYING, (S.PENDING,))], now=LATER
    )
    alike = [
        StepChange("web", S.SKIPPED, (S.PENDING,), "db failed"),
        StepChange("db", S.SKIPPED, (S.PENDING,), "db failed"),  # db is applying: refused
    ]
    with pytest.raises(StatusChanged, match="'db'"):
        await transitions(store).steps(deployment.id, alike, now=LATER)
    stored = await store.deployments.get(deployment.id)
    assert stored is not None
    assert [(s.name, s.status) for s in stored.steps] == [("db", S.APPLYING), ("web", S.PENDING)]
    done = await transitions(store).steps(deployment.id, alike[:1], now=LATER)
    assert [e.data["step"] for e in done] == ["web"]
