"""Two runway servers on one Postgres database, as replicas behind one URL run: whatever one
does, the other sees at once; what must be unique stays unique when both act at the same time.

Most tests run two Stores and two apps in this process on one fresh database (each Store has its
own connection pool, as two processes would); the last starts two real `runway serve` processes
on one fresh database at the same moment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from runway.auth import LoginLimits, PasswordHasher
from runway.cli.serving import announce_setup_token
from runway.http import Settings, create_app
from runway.store import Store
from runway.store.records import Role
from tests.http.worlds import PASSWORD, PUBLIC_URL
from tests.local_http import answers_ready

pytestmark = pytest.mark.anyio

BLOG = (Path(__file__).parents[2] / "examples" / "blog.yaml").read_bytes()
YAML = {"Content-Type": "application/yaml"}
TOKEN_LINE = re.compile(r"One-time setup token \(valid until [^)]*\): (rw_[A-Za-z0-9_-]+)")


@dataclass
class Server:
    store: Store
    settings: Settings
    app: object

    def client(self, token: str | None = None, address: str = "203.0.113.7") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(address, 4321)),
            base_url=PUBLIC_URL,
            headers=headers,
        )


@pytest.fixture
async def servers(postgres_url: str) -> AsyncIterator[tuple[Server, Server]]:
    """Two instances on one fresh database, opened (and so migrated) at the same moment."""
    settings = Settings(
        database_url=postgres_url,
        public_url=PUBLIC_URL,
        hasher=PasswordHasher.cheap(),
        login_limits=LoginLimits(per_user=3, per_address=5),
    )
    stores = await asyncio.gather(Store.open(postgres_url), Store.open(postgres_url))
    try:
        yield (
            Server(stores[0], settings, create_app(settings, stores[0])),
            Server(stores[1], settings, create_app(settings, stores[1])),
        )
    finally:
        for store in stores:
            await store.close()


async def _admin(server: Server) -> str:
    """The first admin, made directly in the store, logged in through `server`."""
    await server.store.users.create("root", server.settings.hasher.hash(PASSWORD), Role.ADMIN)
    async with server.client() as anyone:
        answer = await anyone.post(
            "/api/v1/sessions", json={"username": "root", "password": PASSWORD}
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


async def test_a_user_made_through_one_logs_in_through_the_other(servers):
    one, two = servers
    admin = await _admin(one)
    async with one.client(admin) as root_on_one:
        made = await root_on_one.post(
            "/api/v1/users", json={"username": "cat", "password": PASSWORD}
        )
        assert made.status_code == 201, made.text
    async with two.client() as anyone:
        login = await anyone.post(
            "/api/v1/sessions", json={"username": "cat", "password": PASSWORD}
        )
    assert login.status_code == 201, login.text
    token = login.json()["token"]
    async with one.client(token) as cat_on_one:
        assert (await cat_on_one.get("/api/v1/users/me")).json()["name"] == "cat"
        # Disabled through the second, out at once on the first.
        async with two.client(admin) as root_on_two:
            patched = await root_on_two.patch("/api/v1/users/cat", json={"disabled": True})
            assert patched.status_code == 200
        assert (await cat_on_one.get("/api/v1/users/me")).status_code == 401


async def test_both_announce_one_setup_token_which_works_through_either(servers, caplog):
    one, two = servers
    caplog.set_level(logging.WARNING, logger="runway")
    await asyncio.gather(
        announce_setup_token(one.store, one.settings),
        announce_setup_token(two.store, two.settings),
    )
    tokens = TOKEN_LINE.findall(caplog.text)
    assert len(tokens) == 1, caplog.text
    assert "another instance made the setup token" in caplog.text
    # An instance started later does not replace it either.
    caplog.clear()
    await announce_setup_token(one.store, one.settings)
    assert not TOKEN_LINE.findall(caplog.text)
    assert "another instance made the setup token" in caplog.text

    body = {"setup_token": tokens[0], "username": "root", "password": PASSWORD}
    async with two.client() as on_two, one.client() as on_one:
        done = await on_two.post("/api/v1/setup", json=body)
        assert done.status_code == 201, done.text
        again = await on_one.post("/api/v1/setup", json={**body, "username": "eve"})
        assert again.status_code == 409
        login = await on_one.post(
            "/api/v1/sessions", json={"username": "root", "password": PASSWORD}
        )
        assert login.status_code == 201


async def test_deployment_numbers_stay_unique_and_contiguous_across_servers(servers):
    one, two = servers
    await _admin(one)
    bob = await one.store.users.create("bob", one.settings.hasher.hash(PASSWORD), Role.MEMBER)
    async with one.client() as anyone:
        token = (
            await anyone.post("/api/v1/sessions", json={"username": "bob", "password": PASSWORD})
        ).json()["token"]
    async with one.client(token) as on_one, two.client(token) as on_two:
        assert (await on_two.post("/api/v1/environments", json={"name": "prod"})).status_code == 201
        path = "/api/v1/environments/prod/deployments"
        answers = await asyncio.gather(
            *(
                (on_one if n % 2 else on_two).post(path, content=BLOG, headers=YAML)
                for n in range(20)
            )
        )
        assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
        assert sorted(a.json()["number"] for a in answers) == list(range(1, 21))
        listed = (await on_one.get(path, params={"limit": 50})).json()["items"]
    assert [d["number"] for d in listed] == list(range(20, 0, -1))
    # Each create superseded every older one still waiting, whichever server made it.
    assert [d["status"] for d in listed] == ["created"] + ["superseded"] * 19
    env = await two.store.environments.get(bob.id, "prod")
    assert env is not None
    found, _ = await two.store.deployments.list(env.id, limit=50, cursor=None)
    assert len({d.id for d in found}) == 20


async def test_the_login_limit_counts_failures_through_either_server(servers):
    one, two = servers
    await one.store.users.create("bob", one.settings.hasher.hash(PASSWORD), Role.MEMBER)
    wrong = {"username": "bob", "password": "not the password"}
    # Per user (3 here), from three addresses, so no address reaches its own limit.
    for server, address in ((one, "198.51.100.1"), (two, "198.51.100.2"), (one, "198.51.100.3")):
        async with server.client(address=address) as client:
            assert (await client.post("/api/v1/sessions", json=wrong)).status_code == 401
    async with two.client(address="198.51.100.4") as client:
        limited = await client.post(
            "/api/v1/sessions", json={"username": "bob", "password": PASSWORD}
        )
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["Retry-After"]) > 0

    # Per address (5 here), over five different user names, alternating servers.
    for n in range(5):
        async with (one if n % 2 else two).client(address="192.0.2.9") as client:
            guess = {"username": f"user{n}", "password": "nope"}
            assert (await client.post("/api/v1/sessions", json=guess)).status_code == 401
    for server in (one, two):
        async with server.client(address="192.0.2.9") as client:
            answer = await client.post(
                "/api/v1/sessions", json={"username": "user9", "password": "nope"}
            )
        assert answer.status_code == 429


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _runway(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """`runway ARGS` (the console script of this venv), its output into `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("runway")), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        if answers_ready(url):
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} not ready in time:\n{log.read_text()}")


async def test_two_serve_processes_started_together_print_one_setup_token(
    postgres_url: str, tmp_path: Path
):
    ports = [_free_port(), _free_port()]
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    processes = [
        _runway("serve", "--port", str(port), "--database-url", postgres_url, log=log)
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process, log in zip(urls, processes, logs, strict=True):
            await asyncio.to_thread(_wait_ready, url, process, log)
        texts = [log.read_text() for log in logs]
        printed = [TOKEN_LINE.findall(text) for text in texts]
        assert sorted(len(found) for found in printed) == [0, 1], texts
        token = (printed[0] or printed[1])[0]
        silent = 0 if not printed[0] else 1  # the one that found the other's token
        assert "another instance made the setup token" in texts[silent]
        body = {"setup_token": token, "username": "root", "password": PASSWORD}
        async with httpx.AsyncClient() as client:
            done = await client.post(f"{urls[silent]}/api/v1/setup", json=body)
            assert done.status_code == 201, done.text
            again = await client.post(f"{urls[1 - silent]}/api/v1/setup", json=body)
            assert again.status_code == 409, again.text
            for url in urls:
                login = await client.post(
                    f"{url}/api/v1/sessions", json={"username": "root", "password": PASSWORD}
                )
                assert login.status_code == 201, login.text
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=15)  # its exit code is tests/test_serve.py's business
