"""One real server per test module: starting it (and its simulated cluster) takes seconds."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.tui.world import World, a_world

SERVER_SECRET = "RUNWAY_TEST_SERVER_SECRET"
"""Set in the server's environment: no dashboard process may see it."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    os.environ[SERVER_SECRET] = "do-not-leak"
    try:
        with a_world(tmp_path_factory.mktemp("web")) as made:
            yield made
    finally:
        os.environ.pop(SERVER_SECRET, None)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
