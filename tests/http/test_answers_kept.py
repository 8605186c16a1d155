"""A deployment keeps the answers it reused (issue 8): an answer given at #1 and only reused by #2
is still there for #3, which asks nothing and runs with #1's values; a secret one is kept as its
Secret's name and key, never its value."""

from __future__ import annotations

import pytest

from tests.http.stories import person_with_environment, read_events, send_blog, wait_for
from tests.http.test_runs import deploy_the_blog
from tests.http.worlds import World

pytestmark = pytest.mark.anyio


async def _redeploy(world: World, client) -> dict:  # type: ignore[no-untyped-def]
    """The blog again, started without an answer: it must ask nothing."""
    again = await send_blog(client)
    sources = {q["name"]: (q["answered"], q["source"]) for q in again["questions"]}
    assert sources == {
        "domain": (True, "reused"),
        "admin_email": (True, "reused"),
        "db_password": (True, "reused"),
        "theme": (True, "default"),
    }
    started = await client.post(f"/api/v1/deployments/{again['id']}/start")
    assert started.status_code == 200, started.text
    done = await wait_for(client, again["id"], "succeeded")
    events, _ = await read_events(client, again["id"])
    assert not [e for e in events if e.event == "question"], events
    kept = {q["name"]: q["source"] for q in done["questions"]}
    assert kept == {
        **dict.fromkeys(("domain", "admin_email", "db_password"), "reused"),
        "theme": "default",
    }  # kept with it, and still said to be reused
    return done


async def test_a_third_deployment_still_has_the_answers_of_the_first(cluster_world: World):
    bob = await person_with_environment(cluster_world)
    first = await deploy_the_blog(cluster_world, bob)
    second = await _redeploy(cluster_world, bob)
    third = await _redeploy(cluster_world, bob)
    assert [first["number"], second["number"], third["number"]] == [1, 2, 3]

    values = {q["name"]: q.get("value") for q in third["questions"]}
    assert values["domain"] == "blog.example.org"
    assert values["admin_email"] == "ops@example.org"

    store = cluster_world.store.deployments
    given = {a.input: a for a in await store.answers(first["id"])}
    for kept in (second, third):
        stored = {a.input: a for a in await store.answers(kept["id"])}
        # Only what was reused (not the default, which may change with the configuration).
        assert sorted(stored) == ["admin_email", "db_password", "domain"]
        assert {a.source for a in stored.values()} == {"reused"}
        assert stored["domain"].value == "blog.example.org"
        password = stored["db_password"]
        assert password.value is None  # the value stays in its Secret
        assert (password.secret_name, password.secret_key) == (
            given["db_password"].secret_name,
            given["db_password"].secret_key,
        )
