"""SQLite is the single-instance default: a second `runway serve` on the same data dir is refused
with one clear line while the first goes on serving; the commands meant to run beside a server
(`runway setup`) still work; the lock goes with the server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from runway.store import Store, sqlite_url
from runway.store.instance_lock import DatabaseInUse
from tests.test_serve import PASSWORD, _free_port, no_traceback, runway, serving


def test_a_second_server_on_the_same_sqlite_file_is_refused(tmp_path: Path):
    data = tmp_path / "data"
    with serving(data, tmp_path / "one.log") as first:
        second = runway("serve", "--port", str(_free_port()), "--data-dir", str(data))
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        database = data.resolve() / "runway.db"
        assert lines[0] == (
            f"runway: another runway server (process {first.process.pid}) is already serving "
            f"the SQLite database at {database}; SQLite allows one server: stop that one, or "
            "give every instance one Postgres database (--database-url postgresql://...)"
        )
        no_traceback(second.stderr + second.stdout)
        # The first never noticed.
        assert httpx.get(f"{first.url}/readyz", timeout=5).status_code == 200
        assert first.process.poll() is None

        # `runway setup` works beside the running server, on the same file.
        made = runway(
            "setup", "--admin", "root", "--password-stdin", "--data-dir", str(data), stdin=PASSWORD
        )
        assert made.returncode == 0, made.stderr
        login = httpx.post(
            f"{first.url}/api/v1/sessions", json={"username": "root", "password": PASSWORD}
        )
        assert login.status_code == 201, login.text
        assert first.stop() == 0
    # Gone with the server that held it: the next one serves.
    with serving(data, tmp_path / "three.log") as third:
        assert httpx.get(f"{third.url}/readyz", timeout=5).status_code == 200
        no_traceback(third.output())


@pytest.mark.anyio
async def test_the_serving_lock_is_held_for_the_stores_life(tmp_path: Path):
    url = sqlite_url(tmp_path / "data")
    serving_store = await Store.open(url, serving=True)
    try:
        with pytest.raises(DatabaseInUse, match="already serving the SQLite database"):
            await Store.open(url, serving=True)
        beside = await Store.open(url)  # a short command (setup) takes no lock
        await beside.close()
    finally:
        await serving_store.close()
    again = await Store.open(url, serving=True)
    await again.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
