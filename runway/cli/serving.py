"""What `runway serve` and `runway setup` do (loaded only when they run)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from runway.auth import (
    AuthError,
    PasswordHasher,
    check_username,
    new_token,
    parse_networks,
    token_hash,
)
from runway.auth.passwords import check_password
from runway.cli.common import Namespace, fail, read_passwords
from runway.http import Settings, create_app
from runway.http.settings import SETUP_TOKEN_LIFETIME
from runway.store import Store, StoreError, sqlite_url
from runway.store.records import Role

log = logging.getLogger("runway")


def database_url(args: Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    return sqlite_url(Path(args.data_dir))


def run_serve(args: Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        trusted = parse_networks(args.trusted_proxies or "")
    except ValueError as error:
        return fail(f"--trusted-proxies: {error}")
    port = args.port or _free_port(args.host)
    public_url = args.public_url or f"http://{args.host}:{port}"
    settings = Settings(
        database_url=database_url(args), public_url=public_url, trusted_proxies=trusted
    )
    try:
        return asyncio.run(_serve(settings, args.host, port))
    except StoreError as error:
        return fail(str(error))
    except OSError as error:
        return fail(f"cannot listen on {args.host}:{port}: {error.strerror or error}")


async def _serve(settings: Settings, host: str, port: int) -> int:

    store = await Store.open(settings.database_url)
    try:
        await announce_setup_token(store, settings)
        config = uvicorn.Config(
            create_app(settings, store), host=host, port=port, log_level="info", lifespan="on"
        )
        server = _Server(config)
        log.info("runway serving %s (database: %s)", settings.public_url, store.backend)
        await server.serve()
        return 0 if server.started else 1
    finally:
        await store.close()


class _Server(uvicorn.Server):
    """uvicorn, except that SIGTERM and SIGINT end `serve()` and return: uvicorn's own handling
    re-raises the signal once it has shut down, which kills the process before runway closes
    its database."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for number in signals:
            loop.add_signal_handler(number, self.handle_exit, number, None)
        try:
            yield
        finally:
            for number in signals:
                loop.remove_signal_handler(number)


async def announce_setup_token(store: Store, settings: Settings) -> None:
    """While nobody can log in, make sure one setup token exists, and say how to use it. The
    token is the one secret runway writes to its log, by design."""
    if await store.users.count():
        return
    now = datetime.now(UTC)
    token = new_token()
    expires = now + settings.setup_token_lifetime
    if await store.credentials.put_setup_token(token_hash(token), now, expires, replace=False):
        log.warning(
            "runway has no user yet. One-time setup token (valid until %s): %s\n"
            "  create the first admin: POST %s/api/v1/setup "
            '{"setup_token": "...", "username": "...", "password": "..."}\n'
            "  or on this machine: runway setup --admin NAME",
            expires.isoformat(timespec="minutes"),
            token,
            settings.public_url.rstrip("/"),
        )
        return
    log.warning(
        "runway has no user yet; another instance made the setup token and printed it. "
        "`runway setup --new-token` makes a new one."
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def run_setup(args: Namespace) -> int:
    try:
        return asyncio.run(_setup(args))
    except StoreError as error:
        return fail(str(error))
    except (ValueError, AuthError) as error:
        return fail(str(error))


async def _setup(args: Namespace) -> int:
    password = ""
    if args.admin:
        check_username(args.admin)
        if args.password_stdin:
            (password,) = read_passwords(1, True, [])
        else:
            password, again = read_passwords(2, False, ["Password: ", "Again: "])
            if password != again:
                return fail("the two passwords differ")
        check_password(password)
    store = await Store.open(database_url(args))
    try:
        if await store.users.count():
            return fail("runway is set up already (a user exists); log in instead")
        if args.new_token:
            now = datetime.now(UTC)
            token = new_token()
            expires = now + SETUP_TOKEN_LIFETIME
            await store.credentials.put_setup_token(token_hash(token), now, expires, replace=True)
            print(f"setup token (valid until {expires.isoformat(timespec='minutes')}): {token}")
            return 0
        hashed = PasswordHasher().hash(password)
        user = await store.users.create(args.admin, hashed, Role.ADMIN)
        print(f"admin '{user.name}' created; log in with: runway login URL --user {user.name}")
        return 0
    finally:
        await store.close()
