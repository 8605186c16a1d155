"""Deployments, their steps, answers and events, on both backends."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, timedelta, timezone

import pytest

from runway.store import (
    Answer,
    DeploymentStatus,
    NotFound,
    Step,
    StepStatus,
    Store,
    TokenKind,
)
from tests.store.store_worlds import NOW, PLAN, Raw, a_deployment, a_user, an_environment

pytestmark = pytest.mark.anyio


async def test_a_deployment_is_stored_with_its_plan_steps_and_first_event(store: Store):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    plan = {**PLAN, "note": "ünïcode ✓", "nested": {"list": [1, 2.5, None, True]}}
    deployment, superseded = await store.deployments.create(
        staging,
        ann,
        app="blog",
        config_text="runway: 1\napp: blog\n",
        config_format="yaml",
        plan=plan,
        steps=[("db", "service"), ("migrate", "job"), ("web", "service")],
        now=NOW,
    )
    assert superseded == []
    assert (deployment.number, deployment.status, deployment.env, deployment.owner) == (
        1,
        DeploymentStatus.CREATED,
        "staging",
        "ann",
    )
    assert deployment.steps == (
        Step("db", 0, "service", StepStatus.PENDING),
        Step("migrate", 1, "job", StepStatus.PENDING),
        Step("web", 2, "service", StepStatus.PENDING),
    )
    stored = await store.deployments.get(deployment.id)
    assert stored == deployment
    assert stored is not None
    assert stored.plan == plan
    assert stored.created_by == ann.id
    assert await store.deployments.get(deployment.id + 1) is None
    [event] = await store.deployments.events(deployment.id)
    assert (event.id, event.type, event.data, event.at) == (
        1,
        "deployment",
        {"status": "created"},
        NOW,
    )


async def test_a_newer_deployment_supersedes_older_never_started_ones_of_its_app(
    store: Store, raw: Raw
):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    first, _ = await a_deployment(store, staging, ann)
    later = NOW + timedelta(minutes=1)
    second, superseded = await a_deployment(store, staging, ann, now=later)
    assert superseded == [first.id]
    stored = await store.deployments.get(first.id)
    assert stored is not None
    assert (stored.status, stored.reason, stored.finished_at) == (
        DeploymentStatus.SUPERSEDED,
        "superseded by deployment #2",
        later,
    )
    events = await store.deployments.events(first.id)
    assert [(e.id, e.data) for e in events] == [
        (1, {"status": "created"}),
        (2, {"status": "superseded", "reason": "superseded by deployment #2"}),
    ]
    # A started deployment is not superseded, nor is another app's.
    await raw.execute(f"UPDATE deployments SET status = 'running' WHERE id = {second.id}")
    wiki, superseded = await a_deployment(store, staging, ann, app="wiki")
    assert superseded == []
    third, superseded = await a_deployment(store, staging, ann)
    assert superseded == []
    statuses = [
        (d.number, d.status)
        for d in (await store.deployments.list(staging.id, limit=9, cursor=None))[0]
    ]
    assert statuses == [
        (4, DeploymentStatus.CREATED),
        (3, DeploymentStatus.CREATED),
        (2, DeploymentStatus.RUNNING),
        (1, DeploymentStatus.SUPERSEDED),
    ]
    assert (wiki.number, third.number) == (3, 4)


async def test_rollbacks_say_what_they_roll_back(store: Store):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    first, _ = await a_deployment(store, staging, ann)
    rollback, _ = await a_deployment(store, staging, ann, rollback_of=first.id)
    stored = await store.deployments.get(rollback.id)
    assert stored is not None
    assert stored.rollback_of == first.id


async def test_thirty_concurrent_creates_number_one_to_thirty(store: Store, store_url: str):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    other = await Store.open(store_url)  # a second instance on the same database
    try:
        started = time.perf_counter()
        made = await asyncio.gather(
            *(a_deployment(store if i % 3 else other, staging, ann) for i in range(30))
        )
        elapsed = time.perf_counter() - started
    finally:
        await other.close()
    numbers = sorted(deployment.number for deployment, _ in made)
    assert numbers == list(range(1, 31))
    page, _ = await store.deployments.list(staging.id, limit=100, cursor=None)
    assert [d.number for d in page] == list(range(30, 0, -1))
    assert [d.status for d in page].count(DeploymentStatus.CREATED) == 1
    assert page[0].status is DeploymentStatus.CREATED, "the last one created is the one left"
    superseded = sorted(i for _, ids in made for i in ids)
    assert superseded == sorted(d.id for d in page[1:])
    print(f"{store.backend}: 30 concurrent creates in {elapsed * 1000:.0f} ms")


async def test_many_steps_are_stored_in_order(store: Store):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    # 7,000 steps bind more parameters than one statement may carry on either backend.
    steps = [(f"s{i}", "service") for i in range(7000)]
    deployment, _ = await store.deployments.create(
        staging,
        ann,
        app="wide",
        config_text="",
        config_format="json",
        plan={},
        steps=steps,
        now=NOW,
    )
    stored = await store.deployments.get(deployment.id)
    assert stored is not None
    assert [(s.name, s.position) for s in stored.steps] == [
        (name, i) for i, (name, _) in enumerate(steps)
    ]


async def test_deployments_are_listed_newest_first_a_page_at_a_time(store: Store):
    ann = await a_user(store)
    staging, other = await an_environment(store, ann, "s"), await an_environment(store, ann, "o")
    for app in ("a", "b", "c", "d", "e"):
        await a_deployment(store, staging, ann, app=app)
    await a_deployment(store, other, ann)
    first, cursor = await store.deployments.list(staging.id, limit=2, cursor=None)
    assert [d.app for d in first] == ["e", "d"]
    assert all(len(d.steps) == 2 for d in first)
    second, cursor = await store.deployments.list(staging.id, limit=2, cursor=cursor)
    third, cursor = await store.deployments.list(staging.id, limit=2, cursor=cursor)
    assert [d.app for d in second + third] == ["c", "b", "a"]
    assert cursor is None
    assert await store.deployments.list(staging.id + 99, limit=2, cursor=None) == ([], None)


async def test_the_latest_deployment_of_each_app(store: Store, raw: Raw):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    await a_deployment(store, staging, ann, app="blog")
    wiki, _ = await a_deployment(store, staging, ann, app="wiki")
    await raw.execute(f"UPDATE deployments SET status = 'succeeded' WHERE id = {wiki.id}")
    blog, _ = await a_deployment(store, staging, ann, app="blog")
    latest = await store.deployments.latest_per_app(staging.id)
    assert [(d.app, d.id, d.status) for d in latest] == [
        ("blog", blog.id, DeploymentStatus.CREATED),
        ("wiki", wiki.id, DeploymentStatus.SUCCEEDED),
    ]
    assert [len(d.steps) for d in latest] == [2, 2]
    assert await store.deployments.latest_per_app(staging.id + 1) == []


async def test_answers_keep_values_and_only_where_secrets_live(store: Store, raw: Raw):
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    given = [
        Answer(input="domain", source="answer", value="blog.example"),
        Answer(input="replicas", source="default", value=3),
        Answer(input="debug", source="reused", value=False),
        Answer(input="tags", source="answer", value=["a", {"b": None}]),
        Answer(
            input="db_password",
            source="answer",
            secret_name="blog-db-password-1",
            secret_key="value",
        ),
    ]
    await store.deployments.put_answers(deployment.id, given)
    assert await store.deployments.answers(deployment.id) == sorted(given, key=lambda a: a.input)
    await store.deployments.put_answers(
        deployment.id, [Answer(input="domain", source="answer", value="new.example")]
    )
    answers = {a.input: a for a in await store.deployments.answers(deployment.id)}
    assert answers["domain"].value == "new.example"
    assert len(answers) == 5
    assert await raw.fetch("SELECT value FROM answers WHERE input = 'db_password'") == [(None,)]


async def test_events_are_numbered_from_one_without_gaps(store: Store):
    ann = await a_user(store)
    deployment, _ = await a_deployment(store, await an_environment(store, ann), ann)
    added = await asyncio.gather(
        *(
            store.deployments.add_event(
                deployment.id, "step", {"step": "web", "n": i}, NOW + timedelta(seconds=i)
            )
            for i in range(20)
        )
    )
    assert sorted(event.id for event in added) == list(range(2, 22))
    events = await store.deployments.events(deployment.id)
    assert [event.id for event in events] == list(range(1, 22))
    assert [event.id for event in await store.deployments.events(deployment.id, after=19)] == [
        20,
        21,
    ]
    assert [e.id for e in await store.deployments.events(deployment.id, after=5, limit=3)] == [
        6,
        7,
        8,
    ]
    stored = {event.id: event for event in events}
    for event in added:
        assert stored[event.id] == event


async def test_writes_to_what_is_gone_say_so(store: Store):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    deployment, _ = await a_deployment(store, staging, ann)
    await store.environments.delete(staging.id)
    with pytest.raises(NotFound, match="environment 'staging' of user 'ann' does not exist"):
        await a_deployment(store, staging, ann)
    with pytest.raises(NotFound, match=f"deployment {deployment.id} does not exist"):
        await store.deployments.add_event(deployment.id, "deployment", {}, NOW)


async def test_times_are_aware_utc_whatever_zone_they_came_in(store: Store):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    tokyo = timezone(timedelta(hours=9))
    at = NOW.astimezone(tokyo)
    deployment, _ = await a_deployment(store, staging, ann, now=at)
    event = await store.deployments.add_event(
        deployment.id, "step", {}, at + timedelta(microseconds=1)
    )
    stored = await store.deployments.get(deployment.id)
    assert stored is not None
    assert stored.created_at == NOW
    assert stored.created_at.tzinfo is UTC
    [_, read] = await store.deployments.events(deployment.id)
    assert read.at == NOW + timedelta(microseconds=1)
    assert read.at.tzinfo is UTC
    assert event.at == read.at
    token = await store.credentials.create_token(
        ann.id, TokenKind.API, "t", "h", at + timedelta(hours=1)
    )
    assert token.expires_at.tzinfo is UTC
    assert token.expires_at == NOW + timedelta(hours=1)
    assert (await store.users.list(limit=1, cursor=None))[0][0].created_at.tzinfo is UTC
    with pytest.raises(ValueError, match="naive datetime"):
        await a_deployment(store, staging, ann, now=NOW.replace(tzinfo=None))
