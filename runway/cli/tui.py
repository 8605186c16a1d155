"""`runway tui`: the dashboard in this terminal, against the server of the last login (or
`--url`, where it asks for a login, or the first admin when the server has none)."""

from __future__ import annotations

import argparse
import importlib
import json
import os

from runway.cli.common import Commands, Namespace, fail
from runway.client import load_credentials, save_credentials

TOKEN_VARIABLE = "RUNWAY_TOKEN"
DEPLOYMENT_VARIABLE = "RUNWAY_DEPLOYMENT"
USER_VARIABLE = "RUNWAY_USER"
WAIT_FLAG = "--wait-for-assignment"
"""The browser dashboard's pre-started app processes (runway/http/ui/pool.py) run with it."""

_ASSIGNMENT_LIMIT = 4096
_WARM = (
    "textual.drivers.web_driver",
    "textual.layouts.horizontal",
    "textual.layouts.stream",
    "textual.layouts.factory",
    "rich._emoji_codes",
    "httpcore",
    "h11",
    "anyio._backends._asyncio",
    "certifi",
)
"""What the app imports only once it runs: imported while the process waits instead."""


def add_commands(commands: Commands) -> None:
    tui = commands.add_parser("tui", help="the dashboard in this terminal")
    tui.add_argument("--url", help="the server (default: the one of the last login)")
    tui.add_argument("--deployment", type=int, metavar="ID", help="open this deployment first")
    tui.add_argument(WAIT_FLAG, action="store_true", help=argparse.SUPPRESS)
    tui.set_defaults(run=run_tui)


def run_tui(args: Namespace) -> int:
    # Imported here: Textual takes a while to import, and no other command needs it.
    from runway.tui import make_dashboard

    if args.wait_for_assignment:
        return run_assigned(args.url)
    # The browser dashboard's app process (runway/http/ui): its own short-lived token and the
    # deployment to open come through the environment, never the command line (`ps` shows it).
    given = os.environ.pop(TOKEN_VARIABLE, "")
    if given:
        if not args.url:
            return fail(f"{TOKEN_VARIABLE} needs --url")
        opening = os.environ.pop(DEPLOYMENT_VARIABLE, "")
        make_dashboard(
            args.url.rstrip("/"),
            given,
            username=os.environ.pop(USER_VARIABLE, ""),
            open_deployment=int(opening) if opening.isdecimal() else args.deployment,
        ).run()
        return 0
    saved = load_credentials()
    url = (args.url or (saved.url if saved else "")).rstrip("/")
    if not url:
        return fail("no server yet; run: runway tui --url URL (or runway login URL --user NAME)")
    # The saved token belongs to the server it came from: never send it anywhere else.
    token = saved.token if saved and saved.url == url else None
    dashboard = make_dashboard(
        url,
        token,
        username=saved.username if saved and token else "",
        open_deployment=args.deployment,
        remember=save_credentials,
    )
    dashboard.run()
    return 0


def run_assigned(url: str | None) -> int:
    """A pre-started app process of the browser dashboard: everything is imported before anyone
    is assigned to it, then one JSON line on stdin says who (their token and name, the deployment
    to open, the tab's size). It holds nobody's data until then; stdin's end (its server went
    away) ends it. The token comes through the pipe: not the environment, not the command line."""
    from runway.tui import make_dashboard

    if not url:
        return fail(f"{WAIT_FLAG} needs --url")
    _prepare()
    line = _read_line(0)
    try:
        given = json.loads(line)
    except ValueError:
        return 0 if not line else fail("the assignment is not JSON")
    if not isinstance(given, dict) or not isinstance(given.get("token"), str):
        return fail("the assignment has no token")
    width, height, deployment = given.get("width"), given.get("height"), given.get("deployment")
    if isinstance(width, int) and isinstance(height, int):
        os.environ["COLUMNS"], os.environ["ROWS"] = str(width), str(height)  # the web driver's
    make_dashboard(
        url.rstrip("/"),
        given["token"],
        username=str(given.get("user") or ""),
        open_deployment=deployment if isinstance(deployment, int) else None,
    ).run()
    return 0


def _prepare() -> None:
    """What a waiting process does ahead, holding nobody's data: import what the app imports
    only once it runs, and build the clients' TLS context (reading the CA bundle)."""
    from runway.client.api import tls_context

    for name in _WARM:
        try:
            importlib.import_module(name)
        except ImportError:  # another version of a dependency: it only costs time later
            continue
    tls_context()


def _read_line(fd: int) -> bytes:
    """One line from `fd`, read a byte at a time: what follows it is the app's input, which the
    web driver reads from the same descriptor and must find there."""
    line = b""
    while len(line) < _ASSIGNMENT_LIMIT:
        byte = os.read(fd, 1)
        if not byte or byte == b"\n":
            break
        line += byte
    return line
