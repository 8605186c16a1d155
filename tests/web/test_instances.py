"""Two runway instances on one Postgres database: a person's browser tabs are counted on both
together (their tabs' live app tokens in the database), not per instance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from runway.auth import PasswordHasher
from runway.http import Settings, create_app
from runway.http.ui import Limits, Processes
from runway.http.ui.terminal import Terminal
from runway.store import Store
from tests.store.store_worlds import Postgres, in_thread, pg_reachable
from tests.test_serve import PASSWORD

PUBLIC = "http://testserver"
"""TestClient's own address: the Origin both instances expect."""


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    if not pg_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    server = Postgres()

    async def made() -> str:
        url = await server.new_database()
        store = await Store.open(url)
        try:
            hashed = PasswordHasher().hash(PASSWORD)
            await store.users.create_first_admin_directly("ann", hashed, datetime.now(UTC))
        finally:
            await store.close()
        return url

    try:
        yield asyncio.run(made())
    finally:
        in_thread(server.drop_all())


def _processes(app: Starlette) -> Processes:
    """The instance's dashboard processes (what its websocket route counts with)."""
    for route in app.routes:
        if isinstance(route, WebSocketRoute) and route.path == "/ui/ws":
            terminal = route.endpoint.__self__  # type: ignore[attr-defined]
            assert isinstance(terminal, Terminal)
            return terminal.processes
    raise AssertionError("no /ui/ws route")


def _an_instance(database: str) -> Starlette:
    app = create_app(Settings(database_url=database, public_url=PUBLIC))
    # One tab each, none started ahead: the test starts as few processes as it can.
    _processes(app).limits = Limits(per_user=1, total=4, pool=0)
    return app


def _logged_in(client: TestClient) -> dict[str, str]:
    answer = client.post(
        "/ui/login",
        data={"username": "ann", "password": PASSWORD},
        headers={"Origin": PUBLIC},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return {"Origin": PUBLIC, "Cookie": f"runway_session={answer.cookies['runway_session']}"}


def _first_words(client: TestClient, headers: dict[str, str]) -> str:
    """What a new tab shows first: the app's screen, or why there is none (it then closes)."""
    with client.websocket_connect("/ui/ws?width=100&height=30", headers=headers) as tab:
        return tab.receive_bytes().decode("utf-8", "replace")


def test_a_persons_tabs_are_counted_across_instances(database: str) -> None:
    one, two = _an_instance(database), _an_instance(database)
    with TestClient(one, base_url=PUBLIC) as first, TestClient(two, base_url=PUBLIC) as second:
        on_one, on_two = _logged_in(first), _logged_in(second)
        with first.websocket_connect("/ui/ws?width=100&height=30", headers=on_one) as tab:
            assert tab.receive_bytes()  # the app draws: its token is live
            with second.websocket_connect("/ui/ws", headers=on_two) as refused:
                assert "you have 1 dashboards open" in refused.receive_bytes().decode()
                with pytest.raises(WebSocketDisconnect) as closed:
                    refused.receive_bytes()
                assert closed.value.code == 1008
            assert _processes(two).count() == 0
        # The tab on the first instance closed: its token is revoked, the other opens one.
        deadline = time.monotonic() + 20
        while "dashboards open" in (shown := _first_words(second, on_two)):
            assert time.monotonic() < deadline, "the first instance's tab still counts"
            time.sleep(0.2)
        assert shown
