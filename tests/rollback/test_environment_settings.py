"""How many restore points an environment keeps, through the API: 3 unless set, PATCH takes
1..50 (anything else a 422 naming the field), GET and the list show it, as OpenAPI says."""

from __future__ import annotations

import pytest

from tests.http.conftest import anyio_backend, database_url, world  # noqa: F401 (fixtures)
from tests.http.stories import assert_conforms, person_with_environment
from tests.http.worlds import World

pytestmark = pytest.mark.anyio

ENV = "/api/v1/environments/staging"


async def test_the_restore_points_kept_are_set_per_environment(world: World) -> None:  # noqa: F811
    bob = await person_with_environment(world)
    shown = (await bob.get(ENV)).json()
    assert shown["restore_points_kept"] == 3
    await assert_conforms(bob, "EnvironmentDetail", shown)

    changed = await bob.patch(ENV, json={"restore_points_kept": 7})
    assert changed.status_code == 200, changed.text
    assert changed.json()["restore_points_kept"] == 7
    assert changed.json()["on_failure"] == "manual"  # the other setting untouched
    await assert_conforms(bob, "Environment", changed.json())
    assert (await bob.get(ENV)).json()["restore_points_kept"] == 7
    listed = (await bob.get("/api/v1/environments")).json()["items"]
    assert [(e["name"], e["restore_points_kept"]) for e in listed] == [("staging", 7)]

    both = await bob.patch(ENV, json={"on_failure": "rollback", "restore_points_kept": 1})
    assert both.status_code == 200, both.text
    assert (both.json()["on_failure"], both.json()["restore_points_kept"]) == ("rollback", 1)
    bob_user = await world.store.users.by_name("bob")
    assert bob_user is not None
    env = await world.store.environments.get(bob_user.id, "staging")
    assert (
        env is not None and await world.store.restore_points.kept(env.id) == 1
    )  # what pruning reads

    for wrong in (0, 51, "5", True, 2.5, None):
        refused = await bob.patch(ENV, json={"restore_points_kept": wrong, "on_failure": "x"})
        assert refused.status_code == 422, (wrong, refused.text)
        paths = {p["path"] for p in refused.json()["error"]["details"]}
        assert "on_failure" in paths
        assert ("restore_points_kept" in paths) is (wrong is not None), (wrong, paths)
    assert (await bob.get(ENV)).json()["restore_points_kept"] == 1
