"""`runway rollback` against `runway serve --kube sim`: the dry run printed for people (exit 0,
nothing done), a wrong confirmation refused (exit 1, saying what to type), the confirmed
rollback started (exit 0), and a rollback with no earlier success refused with its reason.
`runway deploy --follow` offers the rollback after a failure (on_failure: manual): the command
to run when not at a terminal, the dry run and the typed confirmation at one. The dashboard
shows the dry run before its confirmation, and each deployment's restore point."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.cli_world import World, a_world, created_id
from tests.rollback.conftest import db_and_web


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with a_world(tmp_path_factory.mktemp("cli-rollback")) as made:
        yield made


def app(web: str) -> str:
    """Its database changes with `web` too, so each deployment backs its volume up."""
    return db_and_web(schema=web, web=web, app="pad")


def deploying(world: World, env: str, text: str, exit_code: int) -> tuple[int, str]:
    """`runway deploy --start --follow` (not at a terminal): the deployment's id, the output."""
    done = world.run(
        "deploy", world.file(f"{env}-{abs(hash(text))}.yaml", text), "--env", env,
        "--start", "--follow",
    )  # fmt: skip
    assert done.returncode == exit_code, done.stdout + done.stderr
    return created_id(done.stdout), done.stdout + done.stderr


def deployed(world: World, env: str, text: str, exit_code: int) -> int:
    return deploying(world, env, text, exit_code)[0]


def test_rollback_shows_the_dry_run_and_acts_only_when_confirmed(world: World) -> None:
    env = world.environment("clirb")
    _, output = deploying(world, env, app("web:1"), 0)
    assert "runway rollback" not in output  # nothing to offer after a success
    failed, output = deploying(world, env, app("web:pullfail"), 1)
    assert f"to see what rolling it back would change and lose: runway rollback {failed}\n" in (
        output
    )

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
    failed, output = deploying(world, env, app("web:pullfail"), 1)
    assert "no rollback offered: no deployment of pad succeeded before" in output, output
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


def test_follow_at_a_terminal_offers_the_rollback_and_does_it_once_the_name_is_typed(
    world: World,
) -> None:
    import os

    from tests.test_cli_terminal import Terminal
    from tests.test_serve import RUNWAY, no_traceback

    env = world.environment("ptyrb")
    deployed(world, env, app("web:1"), 0)
    terminal = Terminal(
        [RUNWAY, "deploy", world.file("ptyrb-2.yaml", app("web:pullfail")), "--env", env,
         "--start", "--follow"],
        {**os.environ, "RUNWAY_CONFIG_DIR": str(world.config), "TERM": "dumb"},
    )  # fmt: skip
    failed = int(terminal.expect(r"deployment (\d+) \(#2 of pad in ptyrb\): created")[1])
    terminal.expect(r"deployment failed")
    terminal.expect(r"image: web:pullfail -> web:1")
    terminal.expect(r"everything written to volume pad-db-data")
    terminal.expect(r"type the environment's name \(ptyrb\) to roll back, or Enter not to: ")
    assert len(world_deployments(world, env)) == 2  # nothing done before the name is typed
    terminal.type(env)
    made = int(terminal.expect(r"rollback deployment (\d+) \(#3\)")[1])
    assert terminal.exit_code() == 1, terminal.transcript  # the deployment did fail
    no_traceback(terminal.transcript)
    assert "--confirm" not in terminal.transcript  # the prompt, not a command to copy
    assert world.deployment(made)["rollback_of"] == failed


@pytest.mark.anyio
async def test_the_environment_screen_shows_each_deployments_restore_point(world: World) -> None:
    from textual.widgets import DataTable, Input, TabbedContent

    from runway.tui import make_dashboard
    from runway.tui.screens.environment import EnvironmentScreen
    from runway.tui.screens.environments import EnvironmentsScreen
    from tests.tui.conftest import until
    from tests.tui.test_stories import cells

    env = world.environment("tuipoints")
    first = deployed(world, env, app("web:1"), 0)
    second = deployed(world, env, app("web:2"), 0)  # the db's env changed: its volume backed up
    shown = world_get(world, f"/api/v1/environments/{env}")
    points = {p["deployment_id"]: p for p in shown["restore_points"]}
    assert points[second]["volumes"] == [{"service": "db", "volume": "data", "method": "snapshot"}]
    assert points[first]["volumes"] == []  # nothing had data before the first deployment

    dashboard = make_dashboard(world.server.url, world.token, username="ann")
    async with dashboard.run_test(size=(160, 50)) as pilot:
        await until(dashboard, lambda: isinstance(dashboard.screen, EnvironmentsScreen), "home")
        dashboard.push_screen(EnvironmentScreen(env))
        await until(dashboard, lambda: isinstance(dashboard.screen, EnvironmentScreen), "it")
        table = await until(
            dashboard, lambda: dashboard.screen.query_one("#deployments", DataTable), "the list"
        )
        rows = await until(
            dashboard, lambda: cells(table) if table.row_count == 2 else None, "its deployments"
        )
        by_number = {row[0]: row[4] for row in rows}
        taken = points[second]["taken_at"][:16].replace("T", " ")
        assert by_number["#2"] == f"{taken} db/data", rows
        assert by_number["#1"].endswith("nothing backed up"), rows

        # Next to on_failure: how many restore points the environment keeps, changed there.
        dashboard.screen.query_one("#tabs", TabbedContent).active = "settings-tab"
        kept = dashboard.screen.query_one("#restore-points-kept", Input)
        await until(dashboard, lambda: kept.value == "3", "the current retention")
        kept.focus()
        kept.value = "51"
        await pilot.press("enter")
        await until(dashboard, lambda: kept.value == "51", "the refusal leaves the field")
        assert world_get(world, f"/api/v1/environments/{env}")["restore_points_kept"] == 3
        kept.value = "5"
        await pilot.press("enter")
        await until(
            dashboard,
            lambda: world_get(world, f"/api/v1/environments/{env}")["restore_points_kept"] == 5,
            "the retention saved",
        )


def world_get(world: World, path: str) -> dict:
    import httpx

    found = httpx.get(
        f"{world.server.url}{path}", headers={"Authorization": f"Bearer {world.token}"}
    )
    assert found.status_code == 200, found.text
    return dict(found.json())


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
