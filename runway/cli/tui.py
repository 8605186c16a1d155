"""`runway tui`: the dashboard in this terminal, against the server of the last login (or
`--url`, where it asks for a login, or the first admin when the server has none)."""

from __future__ import annotations

import os

from runway.cli.common import Commands, Namespace, fail
from runway.client import load_credentials, save_credentials

TOKEN_VARIABLE = "RUNWAY_TOKEN"
DEPLOYMENT_VARIABLE = "RUNWAY_DEPLOYMENT"
USER_VARIABLE = "RUNWAY_USER"


def add_commands(commands: Commands) -> None:
    tui = commands.add_parser("tui", help="the dashboard in this terminal")
    tui.add_argument("--url", help="the server (default: the one of the last login)")
    tui.add_argument("--deployment", type=int, metavar="ID", help="open this deployment first")
    tui.set_defaults(run=run_tui)


def run_tui(args: Namespace) -> int:
    # Imported here: Textual takes a while to import, and no other command needs it.
    from runway.tui import make_dashboard

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
