"""What `runway demo` does (loaded only when it runs): `runway serve --kube sim` on 127.0.0.1 with
a data dir of its own, plus what a person needs to try it at once.

Before the server starts, the first admin, `admin`, is made directly in the database (as `runway
setup --admin` does, so no setup token is made or logged) with a random password. The password
is printed once, to the terminal (stdout), never to runway's log (stderr), and only its argon2
hash is stored: it works at once and until changed (`runway passwd`). A data dir that has users
already (`--data-dir` used before) is left as it is: its password was shown when it was made.

Once the server accepts connections, the demo fills it through its own API, as a person would:
it logs in as admin, creates environment `demo` and sends the blog example, which stays
`created` until someone starts it. Then it prints the URL to open and the commands to try.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shlex
import shutil
import signal
import socket
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runway.auth import PasswordHasher
from runway.cli import serving
from runway.cli.common import Namespace, fail
from runway.client import Client, ClientError
from runway.http import Settings
from runway.store import Store, StoreError, sqlite_url

log = logging.getLogger("runway")

HOST = "127.0.0.1"
ADMIN = "admin"
ENVIRONMENT = "demo"
READY_DELAY = 2.0
"""Seconds the demo's simulated containers take to become ready (the server's `--kube sim`
default is 0.2 s): quick, yet slow enough that a person watching sees the blog's steps move one
after the other. The blog takes about 15 s once answered: its worker has no readiness probe, so
its pod must also stay up runway's 10 s (MIN_READY_SECONDS) before it counts as available."""
ANSWERS = {"domain": "blog.example.org", "admin_email": "you@example.org"}
"""Answers to suggest for the blog's questions (`db_password` is generated)."""


def run_demo(args: Namespace) -> int:
    """The demo until SIGINT or SIGTERM (exit 0); 1 when it cannot start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the demo's own requests: noise
    # Until uvicorn takes the signals over, SIGTERM interrupts like Ctrl-C, so the temporary
    # data dir is removed whenever the demo is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        listening = serving.listen(HOST, args.port)
    except OSError as error:
        return fail(
            f"cannot listen on {HOST}:{args.port}: {error.strerror or error}; "
            "choose another port with --port (0 picks a free one)"
        )
    temporary = args.data_dir is None
    if not temporary and Path(args.data_dir).exists() and not Path(args.data_dir).is_dir():
        listening.close()
        return fail(f"--data-dir {args.data_dir}: not a directory")
    data = Path(tempfile.mkdtemp(prefix="runway-demo-") if temporary else args.data_dir)
    try:
        return asyncio.run(_demo(data.expanduser().resolve(), temporary, listening))
    except KeyboardInterrupt:
        return 0
    except StoreError as error:
        return fail(str(error))
    except OSError as error:  # the data dir cannot be made or written
        return fail(f"data dir {data}: {error.strerror or error}")
    finally:
        listening.close()
        if temporary:
            shutil.rmtree(data, ignore_errors=True)


def _interrupt(number: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _demo(data: Path, temporary: bool, listening: socket.socket) -> int:
    url = f"http://{HOST}:{listening.getsockname()[1]}"
    settings = Settings(database_url=sqlite_url(data), public_url=url)
    password = await _first_admin(settings.database_url)

    async def started() -> bool:
        return await _fill(url, data, temporary, password)

    return await serving.serve(
        settings, listening, "sim", data, sim_ready_delay=READY_DELAY, started=started
    )


async def _first_admin(database_url: str) -> str | None:
    """Make `admin` with a random password, which is returned; None when a user exists."""
    password = secrets.token_urlsafe(15)
    hashed = PasswordHasher().hash(password)
    store = await Store.open(database_url)
    try:
        user = await store.users.create_first_admin_directly(ADMIN, hashed, datetime.now(UTC))
    finally:
        await store.close()
    return None if user is None else password


async def _fill(url: str, data: Path, temporary: bool, password: str | None) -> bool:
    """Environment `demo` with the blog example, then what to try; False when the server
    refused (said on stderr)."""
    if password is None:
        print(_reused(url, data), flush=True)
        return True
    try:
        deployment = await _blog(url, password)
    except ClientError as error:
        fail(f"the demo could not prepare its example: {error.message}")
        return False
    print(_banner(url, data, temporary, password, deployment), flush=True)
    return True


async def _blog(url: str, password: str) -> dict[str, Any]:
    """Through the API, as admin: environment `demo` and a deployment of the blog example."""
    async with Client(url) as anonymous:
        session = await anonymous.login(ADMIN, password)
    async with Client(url, session["token"]) as client:
        await client.request("POST", "/api/v1/environments", json={"name": ENVIRONMENT})
        return await client.create_deployment(ENVIRONMENT, BLOG.encode(), "application/yaml")


def _program() -> str:
    """How the person ran runway (`.venv/bin/runway`), so the commands shown work as pasted."""
    called = sys.argv[0] if sys.argv else ""
    return shlex.quote(called) if Path(called).name == "runway" else "runway"


def _banner(
    url: str, data: Path, temporary: bool, password: str, deployment: dict[str, Any]
) -> str:
    runway, number = _program(), deployment["id"]
    kept = "deleted when the demo stops" if temporary else "kept"
    login = shlex.quote(f'{{"username": "{ADMIN}", "password": "{password}"}}')
    answers = shlex.quote(
        "{"
        + ", ".join(f'"{name}": "{value}"' for name, value in ANSWERS.items())
        + ', "db_password": {"generate": true}}'
    )
    return f"""
runway demo is ready.

  Open       {deployment["monitor_url"]}
  API        {url}/api/v1  (described at {url}/api/v1/openapi.json)
  User       {ADMIN}
  Password   {password}
             (shown only here: not logged, stored only as a hash; change it with `runway passwd`)
  Data       {data} ({kept})
  Cluster    simulated, in this process: nothing runs; containers get ready in {READY_DELAY:g} s

Environment "{ENVIRONMENT}" holds the blog example (examples/blog.yaml): deployment {number},
created and waiting to start. Try:

  {runway} login {url} --user {ADMIN}
  {runway} status {ENVIRONMENT}
  {runway} start {number}

or with curl:

  TOKEN=$(curl -s -H 'Content-Type: application/json' -d {login} {url}/api/v1/sessions \\
          | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  curl -H "Authorization: Bearer $TOKEN" -X POST {url}/api/v1/deployments/{number}/start
  curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d {answers} {url}/api/v1/deployments/{number}/inputs
  curl -H "Authorization: Bearer $TOKEN" {url}/api/v1/deployments/{number}

Ctrl-C stops the demo.
"""


def _reused(url: str, data: Path) -> str:
    return f"""
runway demo is ready at {url}, with the data in {data} as it was left: its users exist already,
so no new password was made (admin's was shown when this data dir was first used). Log in with:

  {_program()} login {url} --user {ADMIN}

Ctrl-C stops the demo.
"""


BLOG = """\
# A small blog: a database, a one-off migration job, a web server, a worker.
# Deploy order: db -> migrate -> (web, worker) ; web and worker may run in parallel.
runway: 1
app: blog

inputs:
  domain:
    prompt: Public host name of the blog
    pattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'
  admin_email:
    prompt: E-mail address of the first administrator
  db_password:
    prompt: Password of the blog's database user
    type: secret
    generate: 24
  theme:
    prompt: Colour theme
    type: choice
    choices: [light, dark]
    default: light

services:
  db:
    image: postgres:16.4
    ports: [5432]
    env:
      POSTGRES_USER: blog
      POSTGRES_PASSWORD: ${{ inputs.db_password }}
    volumes:
      data: { mount: /var/lib/postgresql/data, size: 2Gi }
    ready: { tcp: 5432 }

  migrate:
    kind: job
    image: ghcr.io/example/blog:2.3.0
    command: [blog, migrate]
    env:
      DATABASE_URL: postgres://blog:${{ inputs.db_password }}@${{ services.db.host }}:5432/blog
    depends_on: [db]

  web:
    image: ghcr.io/example/blog:2.3.0
    replicas: 2
    depends_on: [migrate]
    env:
      DATABASE_URL: postgres://blog:${{ inputs.db_password }}@${{ services.db.host }}:5432/blog
      SITE_URL: https://${{ inputs.domain }}
      ADMIN_EMAIL: ${{ inputs.admin_email }}
      THEME: ${{ inputs.theme }}
    ports: [8080]
    ready: { http: /healthz, port: 8080 }
    expose: { port: 8080, host: "${{ inputs.domain }}" }

  worker:
    image: ghcr.io/example/blog:2.3.0
    command: [blog, worker]
    depends_on: [migrate]
    env:
      DATABASE_URL: postgres://blog:${{ inputs.db_password }}@${{ services.db.host }}:5432/blog
"""
"""examples/blog.yaml, embedded so that the demo works from any installation (tests check that
the two stay the same)."""
