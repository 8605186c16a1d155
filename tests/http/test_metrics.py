"""/metrics: Prometheus's text format, parsed by prometheus-client's own parser, whose figures
move when a deployment runs on the simulated cluster; labelled by route template; open, or
behind the server's metrics token; one registry per app."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runway.http import create_app
from runway.http.metrics import UNMATCHED
from tests.http.stories import person_with_environment, send_blog, wait_for
from tests.http.worlds import World

pytestmark = pytest.mark.anyio

HELLO = (Path(__file__).parents[2] / "examples" / "hello.yaml").read_bytes()
SLOW = HELLO.replace(b"hello:1.0.0", b"hello:slow")


async def scrape(client: httpx.AsyncClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of /metrics, by name, then by its labels (sorted)."""
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def total(samples: dict[tuple[tuple[str, str], ...], float], **wanted: str) -> float:
    """The sum of the samples whose labels include `wanted`."""
    return sum(
        value
        for labels, value in samples.items()
        if all((key, value) in labels for key, value in wanted.items())
    )


async def test_the_figures_move_when_a_deployment_runs(cluster_world: World):
    anyone = cluster_world.client()
    before = await scrape(anyone)
    assert before["runway_deployments"][(("status", "succeeded"),)] == 0
    assert before["runway_database_up"][()] == 1
    assert total(before.get("runway_step_duration_seconds_count", {})) == 0

    bob = await person_with_environment(cluster_world)
    hello = await send_blog(bob, config=HELLO)
    middle = await scrape(anyone)
    assert middle["runway_deployments"][(("status", "created"),)] == 1
    started = await bob.post(f"/api/v1/deployments/{hello['id']}/start")
    assert started.status_code == 200, started.text
    await wait_for(bob, hello["id"], "succeeded")

    after = await scrape(anyone)
    assert after["runway_deployments"][(("status", "created"),)] == 0
    assert after["runway_deployments"][(("status", "succeeded"),)] == 1
    steps = after["runway_step_duration_seconds_count"]
    assert total(steps, kind="service", status="succeeded") == 1
    again = await scrape(anyone)
    assert again["runway_step_duration_seconds_count"] == steps, "each step is observed once"

    latency = after["runway_http_request_duration_seconds_count"]
    assert total(latency, route="/api/v1/deployments/{id}/start", status="200") == 1
    assert total(latency, route="/api/v1/environments", method="POST", status="201") == 1
    raw = f"/deployments/{hello['id']}"
    assert not any(raw in dict(labels)["route"] for labels in latency), latency


async def test_routes_are_templates_and_unknown_paths_share_one_label(world: World):
    anyone = world.client()
    for path in ("/nope/1", "/nope/2", "/api/v1/deployments/123", "/api/v1/deployments/x9"):
        await anyone.get(path)
    await anyone.request("BREW", "/healthz")
    latency = (await scrape(anyone))["runway_http_request_duration_seconds_count"]
    routes = {dict(labels)["route"] for labels in latency}
    assert UNMATCHED in routes
    assert not any(route.startswith("/nope") for route in routes), routes
    assert total(latency, route="/api/v1/deployments/{id}", status="401") == 2
    assert total(latency, route="/healthz", method="other", status="405") == 1


async def test_dashboard_sessions_and_takeovers_are_counted(world: World):
    anyone = world.client()
    ended = world.app.state.processes.reserve(user_id=1, session_id=1)
    world.app.state.processes.reserve(user_id=2, session_id=2)
    assert (await scrape(anyone))["runway_dashboard_sessions"][()] == 2
    world.app.state.processes.release(ended)
    assert (await scrape(anyone))["runway_dashboard_sessions"][()] == 1
    assert (await scrape(anyone))["runway_lease_takeovers_total"][()] == 0


async def test_a_deployment_taken_over_from_a_stopped_instance_is_counted(cluster_world: World):
    cluster_world.sim.behaviour.ready_delay = 3.0
    bob = await person_with_environment(cluster_world)
    hello = await send_blog(bob, config=SLOW)
    assert (await bob.post(f"/api/v1/deployments/{hello['id']}/start")).status_code == 200
    await wait_for(bob, hello["id"], "running")
    await cluster_world.executor.close()  # stops, releasing its lease

    ctx = cluster_world.app.state.runway
    other = create_app(cluster_world.settings, cluster_world.store, cluster=ctx.cluster)
    try:
        assert await other.state.runway.executor.resume() == 1
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://other.test"
        ) as client:
            for _ in range(100):  # the run writes its `lease` event, then counts
                figures = await scrape(client)
                if figures["runway_lease_takeovers_total"][()]:
                    break
                await asyncio.sleep(0.05)
            assert figures["runway_lease_takeovers_total"][()] == 1
            first = await scrape(cluster_world.client())
            assert first["runway_lease_takeovers_total"][()] == 0
    finally:
        await other.state.runway.executor.close()


async def test_apps_in_one_process_keep_their_own_registries(world: World):
    other = create_app(world.settings, world.store)
    try:
        await world.client().get("/healthz")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://other.test"
        ) as client:
            figures = await scrape(client)
        latency = figures.get("runway_http_request_duration_seconds_count", {})
        assert total(latency, route="/healthz") == 0, "the first app's requests are its own"
    finally:
        await other.state.runway.executor.close()


async def test_a_metrics_token_guards_metrics(world: World):
    guarded = create_app(replace(world.settings, metrics_token="scrape-me-0123456789"), world.store)
    try:
        transport = httpx.ASGITransport(app=guarded)
        async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as client:
            refused = await client.get("/metrics")
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            right = await client.get(
                "/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"}
            )
            assert right.status_code == 200
            assert "scrape-me" not in right.text
    finally:
        await guarded.state.runway.executor.close()


async def test_a_database_that_does_not_answer_is_said_not_hidden(world: World):
    anyone = world.client()
    await scrape(anyone)
    await world.store.close()
    figures = await scrape(anyone)
    assert figures["runway_database_up"][()] == 0
    assert "runway_deployments" not in figures, "absent, rather than stale"
