"""`runway rollback` against `runway serve --kube sim`: the dry run printed for people (exit 0,
nothing done), a wrong confirmation refused (exit 1, saying what to type), the confirmed
rollback started (exit 0), and a rollback with no earlier success refused with its reason."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.cli_world import World, a_world, created_id
from tests.rollback.conftest import config


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with a_world(tmp_path_factory.mktemp("cli-rollback")) as made:
        yield made


def app(web: str) -> str:
    return config(f"""
        app: pad
        services:
          db:
            image: "postgres:16"
            env: {{WEB: "{web}"}}
            ports: [5432]
            ready: {{tcp: 5432}}
            volumes: {{data: {{mount: /data, size: 1Gi}}}}
          web: {{image: "{web}", ports: [80], ready: {{tcp: 80}}, depends_on: [db]}}
        """)


def deployed(world: World, env: str, text: str, exit_code: int) -> int:
    done = world.run(
        "deploy", world.file(f"{env}-{abs(hash(text))}.yaml", text), "--env", env,
        "--start", "--follow",
    )  # fmt: skip
    assert done.returncode == exit_code, done.stdout + done.stderr
    return created_id(done.stdout)


def test_rollback_shows_the_dry_run_and_acts_only_when_confirmed(world: World) -> None:
    env = world.environment("clirb")
    deployed(world, env, app("web:1"), 0)
    failed = deployed(world, env, app("web:pullfail"), 1)

    dry = world.run("rollback", str(failed))
    assert dry.returncode == 0, dry.stderr
    assert "image: web:pullfail -> web:1" in dry.stdout
    assert "everything written to volume pad-db-data" in dry.stdout
    assert f"runway rollback {failed} --confirm {env}" in dry.stdout

    wrong = world.run("rollback", str(failed), "--confirm", "production")
    assert wrong.returncode == 1 and f"'{env}'" in wrong.stderr

    done = world.run("rollback", str(failed), "--confirm", env)
    assert done.returncode == 0, done.stderr
    ident = int(done.stdout.split()[2])
    for _ in range(300):
        found = world.deployment(ident)
        if found["status"] not in ("created", "running"):
            break
        time.sleep(0.1)
    assert found["status"] == "succeeded" and found["rollback_of"] == failed, found


def test_a_rollback_without_an_earlier_success_is_refused(world: World) -> None:
    env = world.environment("clirb-none")
    failed = deployed(world, env, app("web:pullfail"), 1)
    refused = world.run("rollback", str(failed))
    assert refused.returncode == 1
    assert "no deployment of pad succeeded before" in refused.stderr


@pytest.mark.anyio
async def test_the_dashboard_shows_the_dry_run_and_rolls_back_once_the_name_is_typed(
    world: World,
) -> None:
    from textual.widgets import Input, Label

    from runway.tui import make_dashboard
    from runway.tui.screens.deployment import DeploymentScreen
    from tests.tui.conftest import until

    env = world.environment("tuirb")
    deployed(world, env, app("web:1"), 0)
    failed = deployed(world, env, app("web:pullfail"), 1)
    dashboard = make_dashboard(
        world.server.url, world.token, username="ann", open_deployment=failed
    )
    async with dashboard.run_test(size=(120, 50)) as pilot:
        await until(dashboard, lambda: isinstance(dashboard.screen, DeploymentScreen), "it")
        screen = dashboard.screen
        await until(dashboard, lambda: screen.deployment, "the deployment read")
        await pilot.press("b")
        typed = await until(dashboard, lambda: dashboard.screen.query_one("#typed", Input), "ask")
        question = str(dashboard.screen.query_one(".question", Label).render())
        assert "image: web:pullfail -> web:1" in question
        assert "everything written to volume pad-db-data" in question
        assert len(world_deployments(world, env)) == 2  # nothing done yet
        typed.value = env
        await pilot.press("enter")
        await until(
            dashboard,
            lambda: (
                isinstance(dashboard.screen, DeploymentScreen)
                and dashboard.screen.deployment_id != failed
            ),
            "the rollback's screen",
        )
        made = world.deployment(dashboard.screen.deployment_id)
        assert made["rollback_of"] == failed


def world_deployments(world: World, env: str) -> list[dict]:
    import httpx

    found = httpx.get(
        f"{world.server.url}/api/v1/environments/{env}/deployments",
        headers={"Authorization": f"Bearer {world.token}"},
    )
    return list(found.json()["items"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
