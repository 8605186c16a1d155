"""Running steps against the simulated cluster (its own process): the blog deployed step by step
in plan order, again without changing anything, its job run again for a new deployment, every
failure said plainly, and a secret input's answer stored as its own immutable Secret."""

from __future__ import annotations

import asyncio
import base64
import secrets
from pathlib import Path
from typing import Any

import pytest

from runway.deploy import SecretRef, Target, names, render_step
from runway.deploy.apply import Retry, object_path
from runway.deploy.environment_objects import EnvironmentSpec
from runway.deploy.environments import prepare_environment
from runway.deploy.errors import NotFound, PermanentError
from runway.deploy.input_secrets import read_secret_input, store_secret_input
from runway.deploy.steps import Stage, StepError, StepResult, run_step
from runway.planner import Plan, plan_source
from tests.deploy.conftest import World, reset_afterwards

BLOG_TEXT = (Path(__file__).parents[2] / "examples" / "blog.yaml").read_text()
BLOG = plan_source(BLOG_TEXT)
ANSWERS = {"domain": "blog.example.org", "admin_email": "ann@example.org", "theme": "dark"}
QUICK = Retry(tries=3, first=0.01, longest=0.05)
TIMEOUT = 120.0  # generous: a loaded machine must not fail a step that would become ready


async def blog_target(
    world: World, namespace: str, password: str, deployment: int = 1, **answers: Any
) -> Target:
    """The blog's environment prepared, its password stored as version 1, and a target."""
    await prepare_environment(world.cluster, EnvironmentSpec(namespace, "alice", "staging"))
    ref = await store_secret_input(
        world.cluster, namespace, "staging", "blog", "db_password", 1, password
    )
    return Target(
        namespace,
        "staging",
        deployment,
        {**ANSWERS, **answers},
        {"db_password": ref},
        {"db_password": password},
    )


async def deploy(world: World, plan: Plan, target: Target) -> list[StepResult]:
    """Every step of the plan, one after the other in plan order."""
    return [
        await run_step(world.cluster, plan, step.name, target, timeout=TIMEOUT)
        for step in plan.steps
    ]


def versions(results: list[StepResult]) -> list[tuple[str, str, str]]:
    return [(a.kind, a.name, a.resource_version) for r in results for a in r.applied]


async def read_versions(
    world: World, target: Target, results: list[StepResult]
) -> list[tuple[str, str, str]]:
    found = []
    for result in results:
        for manifest in render_step(BLOG, result.step, target):
            current = await world.cluster.get(object_path(manifest))
            assert current is not None, manifest["metadata"]["name"]
            found.append((manifest["kind"], current["metadata"]["name"], rv(current)))
    return found


async def settled_versions(
    world: World, target: Target, results: list[StepResult]
) -> list[tuple[str, str, str]]:
    """The applied objects' resourceVersions once two reads a moment apart agree."""
    seen = await read_versions(world, target, results)
    for _ in range(100):
        await asyncio.sleep(0.2)
        now = await read_versions(world, target, results)
        if now == seen:
            return now
        seen = now
    raise AssertionError(f"the blog's objects never stopped changing: {seen}")


def rv(found: dict[str, Any]) -> str:
    return str(found["metadata"]["resourceVersion"])


def small(image: str, **service: str) -> Plan:
    """A one-service app `shop` whose service `web` listens on 8080 and runs `image`."""
    extra = "".join(f"\n    {key}: {value}" for key, value in service.items())
    return plan_source(
        f"runway: 1\napp: shop\nservices:\n  web:\n    image: {image}\n"
        f"    ports: [8080]\n    ready: {{tcp: 8080}}{extra}\n"
    )


# -- the blog --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_blog_deploys_step_by_step_and_again_changes_nothing(
    world: World, namespace_name: str
) -> None:
    target = await blog_target(world, namespace_name, secrets.token_hex(12))
    first = await deploy(world, BLOG, target)

    assert [r.step for r in first] == ["db", "migrate", "web", "worker"]
    assert [r.ready for r in first] == [
        "Deployment blog-db: 1 of 1 replicas available",
        "Job blog-migrate-1 completed",
        "Deployment blog-web: 2 of 2 replicas available",
        "Deployment blog-worker: 1 of 1 replicas available",
    ]
    for result in first:
        rendered = render_step(BLOG, result.step, target)
        assert [(a.kind, a.name) for a in result.applied] == [
            (m["kind"], m["metadata"]["name"]) for m in rendered
        ]
        assert all(a.resource_version for a in result.applied)
        assert result.timings.total >= result.timings.ready > 0
    web = await world.cluster.get(f"/apis/apps/v1/namespaces/{namespace_name}/deployments/blog-web")
    assert web is not None and web["status"]["availableReplicas"] == 2

    # The cluster's controllers go on writing status for a moment (a claim binds, replicas
    # are counted): compare with the objects as they are once they have settled.
    settled = await settled_versions(world, target, first)
    again = await deploy(world, BLOG, target)
    assert versions(again) == settled
    assert [r.ready for r in again] == [r.ready for r in first]


@pytest.mark.anyio
async def test_a_job_whose_image_changed_runs_again_as_a_new_job(
    world: World, namespace_name: str
) -> None:
    target = await blog_target(world, namespace_name, secrets.token_hex(12))
    jobs = f"/apis/batch/v1/namespaces/{namespace_name}/jobs"
    first = await run_step(world.cluster, BLOG, "migrate", target, timeout=TIMEOUT)
    before = await world.cluster.get(f"{jobs}/blog-migrate-1")
    assert before is not None

    newer = plan_source(BLOG_TEXT.replace("blog:2.3.0", "blog:2.4.0"))
    second_target = Target(**{**_fields(target), "deployment": 2})
    second = await run_step(world.cluster, newer, "migrate", second_target, timeout=TIMEOUT)

    assert (first.applied[-1].kind, first.applied[-1].name) == ("Job", "blog-migrate-1")
    assert (second.applied[-1].kind, second.applied[-1].name) == ("Job", "blog-migrate-2")
    assert second.ready == "Job blog-migrate-2 completed"
    ran = await world.cluster.get(f"{jobs}/blog-migrate-2")
    assert ran is not None
    assert ran["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/example/blog:2.4.0"
    )
    assert ran["metadata"]["uid"] != before["metadata"]["uid"]
    after = await world.cluster.get(f"{jobs}/blog-migrate-1")
    assert after is not None and after["metadata"]["uid"] == before["metadata"]["uid"]


@pytest.mark.anyio
async def test_a_changed_job_under_the_same_deployment_number_is_refused_plainly(
    world: World, namespace_name: str
) -> None:
    target = await blog_target(world, namespace_name, secrets.token_hex(12))
    await run_step(world.cluster, BLOG, "migrate", target, timeout=TIMEOUT)
    newer = plan_source(BLOG_TEXT.replace("blog:2.3.0", "blog:2.4.0"))
    with pytest.raises(StepError) as raised:
        await run_step(world.cluster, newer, "migrate", target, timeout=TIMEOUT)
    assert raised.value.stage is Stage.APPLY and not raised.value.retryable
    assert str(raised.value).startswith("step 'migrate' could not be applied: Job blog-migrate-1")
    assert "immutable" in raised.value.reason
    assert raised.value.reason.count("blog-migrate-1") == 1, raised.value.reason


@pytest.mark.anyio
async def test_the_caller_hears_when_everything_is_applied_before_the_wait(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    paths = [
        f"/apis/apps/v1/namespaces/{namespace_name}/deployments/shop-web",
        f"/api/v1/namespaces/{namespace_name}/services/shop-web",
    ]
    heard: list[list[dict[str, Any] | None]] = []

    async def applied() -> None:
        heard.append([await world.cluster.get(path) for path in paths])

    target = Target(namespace_name, "staging", 1)
    result = await run_step(
        world.cluster, small("example/web:1"), "web", target, timeout=TIMEOUT, on_applied=applied
    )
    assert len(heard) == 1 and None not in heard[0]
    assert [(a.kind, a.name) for a in result.applied] == [
        ("Deployment", "shop-web"),
        ("Service", "shop-web"),
    ]

    class Stop(Exception):
        pass

    async def stop() -> None:
        raise Stop

    with pytest.raises(Stop):
        await run_step(
            world.cluster, small("example/web:2"), "web", target, timeout=TIMEOUT, on_applied=stop
        )


@pytest.mark.anyio
async def test_a_caller_no_longer_sure_it_may_act_stops_the_step_between_two_objects(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    asked: list[int] = []

    class LeaseGone(Exception):
        pass

    def may_act() -> None:  # sure before the first object, no longer before the second
        asked.append(1)
        if len(asked) > 1:
            raise LeaseGone

    target = Target(namespace_name, "staging", 1)
    with pytest.raises(LeaseGone):
        await run_step(
            world.cluster, small("example/web:1"), "web", target, timeout=TIMEOUT, may_act=may_act
        )
    base = f"/namespaces/{namespace_name}"
    assert await world.cluster.get(f"/apis/apps/v1{base}/deployments/shop-web") is not None
    assert await world.cluster.get(f"/api/v1{base}/services/shop-web") is None


# -- failures, said plainly ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_step_missing_an_answer_fails_to_render_naming_the_input(
    world: World, namespace_name: str
) -> None:
    target = await blog_target(world, namespace_name, secrets.token_hex(12))
    unanswered = Target(**{**_fields(target), "answers": {"theme": "dark"}})
    with pytest.raises(StepError) as raised:
        await run_step(world.cluster, BLOG, "web", unanswered, timeout=TIMEOUT)
    assert raised.value.stage is Stage.RENDER and not raised.value.retryable
    assert str(raised.value) == (
        "step 'web' cannot be rendered: step 'web' needs input 'domain', which has no answer yet"
    )
    path = f"/apis/apps/v1/namespaces/{namespace_name}/deployments/blog-web"
    assert await world.cluster.get(path) is None


@pytest.mark.anyio
async def test_an_image_that_cannot_be_pulled_fails_the_step_when_waiting(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    target = Target(namespace_name, "staging", 1)
    with pytest.raises(StepError) as raised:
        await run_step(world.cluster, small("example/web:pullfail"), "web", target, timeout=60)
    assert raised.value.stage is Stage.READY and not raised.value.retryable
    assert "example/web:pullfail cannot be pulled" in str(raised.value)


@pytest.mark.anyio
async def test_a_cluster_failing_past_every_retry_fails_the_step_as_retryable(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    path = f"/apis/apps/v1/namespaces/{namespace_name}/deployments/shop-web"
    await world.inject(kind="status", status=503, path=path, method="PATCH")
    target = Target(namespace_name, "staging", 1)
    with pytest.raises(StepError) as raised:
        await run_step(
            world.cluster, small("example/web:1"), "web", target, timeout=60, retry=QUICK
        )
    assert raised.value.stage is Stage.APPLY and raised.value.retryable
    assert "Deployment shop-web: the cluster answered 503" in raised.value.reason
    assert "still failing after 3 tries" in raised.value.reason


@pytest.mark.anyio
async def test_a_secret_value_quoted_by_the_cluster_is_blotted_out_of_the_reason(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    password = f"pw-{secrets.token_hex(12)}"
    target = await blog_target(world, namespace_name, password)
    [env_secret] = [m for m in render_step(BLOG, "web", target) if m["kind"] == "Secret"]
    path = f"/api/v1/namespaces/{namespace_name}/secrets/{env_secret['metadata']['name']}"
    refusal = f"DATABASE_URL: Invalid value: postgres://blog:{password}@db: not allowed"
    await world.inject(kind="status", status=422, path=path, method="PATCH", message=refusal)
    with pytest.raises(StepError) as raised:
        await run_step(world.cluster, BLOG, "web", target, timeout=TIMEOUT)
    assert raised.value.stage is Stage.APPLY
    assert password not in str(raised.value) and password not in repr(raised.value.args)
    assert "postgres://blog:[secret]@db" in raised.value.reason


# -- secret inputs ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_secret_answer_is_an_immutable_labelled_secret_stored_once(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    value = f"v-{secrets.token_hex(8)}"
    ref = await store_secret_input(
        world.cluster, namespace_name, "staging", "blog", "db_password", 3, value
    )
    assert (ref.name, ref.key) == ("blog-db-password-3", "value")
    assert ref.name == names.input_secret_name("blog", "db_password", 3)
    path = f"/api/v1/namespaces/{namespace_name}/secrets/{ref.name}"
    stored = await world.cluster.get(path)
    assert stored is not None and stored["immutable"] is True
    assert stored["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "runway",
        "runway.dev/app": "blog",
        "runway.dev/environment": "staging",
        "runway.dev/input": "db_password",
        "runway.dev/input-version": "3",
    }
    assert stored["data"] == {"value": _b64(value)}

    again = await store_secret_input(
        world.cluster, namespace_name, "staging", "blog", "db_password", 3, value
    )
    assert again == ref
    unchanged = await world.cluster.get(path)
    assert unchanged is not None
    assert unchanged["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


@pytest.mark.anyio
async def test_another_value_for_a_stored_version_is_refused_without_saying_either(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    first, second = f"a-{secrets.token_hex(8)}", f"b-{secrets.token_hex(8)}"
    await store_secret_input(
        world.cluster, namespace_name, "staging", "blog", "db_password", 1, first
    )
    with pytest.raises(PermanentError) as raised:
        await store_secret_input(
            world.cluster, namespace_name, "staging", "blog", "db_password", 1, second
        )
    said = f"{raised.value} {raised.value.args!r}"
    assert "blog-db-password-1 already holds another value" in said
    assert "new version" in said
    for value in (first, second):
        assert value not in said and _b64(value) not in said


@pytest.mark.anyio
async def test_a_secret_of_that_name_not_made_by_runway_is_not_used(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    value = secrets.token_hex(8)
    theirs = {
        "metadata": {"name": "blog-db-password-1"},
        "data": {"value": _b64(value)},
    }
    await world.cluster.request("POST", f"/api/v1/namespaces/{namespace_name}/secrets", body=theirs)
    with pytest.raises(PermanentError, match="was not made by runway"):
        await store_secret_input(
            world.cluster, namespace_name, "staging", "blog", "db_password", 1, value
        )


@pytest.mark.anyio
async def test_a_refusal_quoting_the_value_is_scrubbed(world: World, namespace_name: str) -> None:
    world.require_sim()
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    value = f"v-{secrets.token_hex(8)}"
    path = f"/api/v1/namespaces/{namespace_name}/secrets"
    said = f"data[value]: Invalid value: {_b64(value)} (that is {value})"
    await world.inject(kind="status", status=403, path=path, method="POST", message=said)
    with pytest.raises(PermanentError) as raised:
        await store_secret_input(
            world.cluster, namespace_name, "staging", "blog", "db_password", 1, value
        )
    text = f"{raised.value} {raised.value.args!r} {raised.value.message}"
    assert value not in text and _b64(value) not in text
    assert "Invalid value: [secret] (that is [secret])" in text


@pytest.mark.anyio
async def test_a_stored_secret_answer_reads_back_and_only_from_runway_s_secrets(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(namespace_name, "alice", "staging"))
    value = f"ünï-{secrets.token_hex(8)}"
    ref = await store_secret_input(
        world.cluster, namespace_name, "staging", "blog", "db_password", 2, value
    )
    assert await read_secret_input(world.cluster, namespace_name, ref) == value

    with pytest.raises(NotFound):
        await read_secret_input(
            world.cluster, namespace_name, SecretRef("blog-db-password-9", "value")
        )
    theirs = {"metadata": {"name": "theirs"}, "data": {"value": _b64("not runway's")}}
    await world.cluster.request("POST", f"/api/v1/namespaces/{namespace_name}/secrets", body=theirs)
    with pytest.raises(PermanentError, match="Secret theirs was not made by runway"):
        await read_secret_input(world.cluster, namespace_name, SecretRef("theirs", "value"))
    with pytest.raises(PermanentError, match="has no key 'other'"):
        await read_secret_input(world.cluster, namespace_name, SecretRef(ref.name, "other"))


# -- the shared simulator ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_what_a_test_changes_in_the_shared_simulator_is_put_back(world: World) -> None:
    sim = world.require_sim()
    async with world.admin() as http:
        before = (await http.get("/_sim/behaviour")).json()
        async with reset_afterwards(sim):
            await world.behave(ready_delay=7.5, image_delays={"example/x:1": 3})
            await world.inject(kind="status", status=500, path="/api/v1/nowhere")
            assert (await http.get("/_sim/behaviour")).json()["ready_delay"] == 7.5
            assert (await http.get("/_sim/faults")).json()["items"]
        assert (await http.get("/_sim/behaviour")).json() == before
        assert (await http.get("/_sim/faults")).json()["items"] == []


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _fields(target: Target) -> dict[str, Any]:
    return {name: getattr(target, name) for name in Target.__dataclass_fields__}
