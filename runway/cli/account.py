"""`runway login` and `runway passwd`: the caller's session with a server."""

from __future__ import annotations

import asyncio
from typing import Any

from runway.cli.common import Commands, Namespace, fail, read_passwords
from runway.client import Client, ClientError, Credentials, load_credentials, save_credentials
from runway.client.devices import log_in


def add_commands(commands: Commands) -> None:
    login = commands.add_parser("login", help="log in to a server and keep the token")
    login.add_argument("url", metavar="URL", help="the server, e.g. https://runway.example.com")
    login.add_argument("--user", required=True, metavar="NAME")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.set_defaults(run=run_login)

    passwd = commands.add_parser("passwd", help="change your password")
    passwd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the current and the new password from stdin, one per line",
    )
    passwd.add_argument("--url", help="the server (default: the one of the last login)")
    passwd.set_defaults(run=run_passwd)


def run_login(args: Namespace) -> int:
    try:
        (password,) = read_passwords(1, args.password_stdin, ["Password: "])
    except ValueError as error:
        return fail(str(error))
    try:
        session = asyncio.run(_login(args.url, args.user, password))
    except ClientError as error:
        return fail(error.message)
    path = save_credentials(Credentials(args.url.rstrip("/"), session["token"], args.user))
    print(f"logged in to {args.url} as {args.user} (token kept in {path})")
    return 0


async def _login(url: str, username: str, password: str) -> dict[str, Any]:
    async with Client(url) as client:
        return await log_in(client, username, password)


def run_passwd(args: Namespace) -> int:
    saved = load_credentials()
    if saved is None:
        return fail("not logged in; run: runway login URL --user NAME")
    try:
        current, new, *again = read_passwords(
            2 if args.password_stdin else 3,
            args.password_stdin,
            ["Current password: ", "New password: ", "New password again: "],
        )
    except ValueError as error:
        return fail(str(error))
    if again and again[0] != new:
        return fail("the two new passwords differ")
    url = (args.url or saved.url).rstrip("/")
    if url != saved.url:
        # The saved token belongs to the server it came from: never send it anywhere else.
        return fail(f"not logged in to {url}; run: runway login {url} --user NAME")
    try:
        asyncio.run(_passwd(url, saved.token, current, new))
    except ClientError as error:
        details = "; ".join(str(d.get("message")) for d in error.details)
        return fail(f"{error.message}{': ' + details if details else ''}")
    print("password changed; your other sessions were logged out")
    return 0


async def _passwd(url: str, token: str, current: str, new: str) -> None:
    async with Client(url, token) as client:
        await client.change_password(current, new)
