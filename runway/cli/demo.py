"""`runway demo`: everything embedded on a fresh machine, in the foreground until Ctrl-C."""

from __future__ import annotations

from runway.cli.common import Commands, Namespace
from runway.cli.server import _port as port_number  # the same port check as `serve`


def add_commands(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="try runway on this machine: server, simulated cluster and an example, until Ctrl-C",
        description="Run runway with everything embedded until Ctrl-C: SQLite in a fresh "
        "temporary data dir (deleted at exit; --data-dir keeps one), the simulated cluster, the "
        "server on 127.0.0.1, user admin with a random password printed here (never logged), and "
        "environment demo holding the blog example, created and waiting to start. RUNWAY_* "
        "environment variables are not read: a demo never touches a real installation's data.",
    )
    demo.add_argument("--data-dir", metavar="DIR", help="keep the data here (default: temporary)")
    demo.add_argument("--port", type=port_number, default=8080, help="default 8080 (0: a free one)")
    demo.set_defaults(run=run_demo)


def run_demo(args: Namespace) -> int:
    # Loaded only when it runs, like `runway serve`: the other commands stay quick.
    from runway.cli import demoing

    return demoing.run_demo(args)
