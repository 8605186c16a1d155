"""`runway status` and `runway logs`: what runs, and what it says.

`status` lists the caller's environments, or one environment's apps: each app's services with
their state and URLs, then its latest deployments, in aligned columns. `logs` prints a service's
container logs as the server reads them from the cluster, line by line as they come; with
`--follow`, Ctrl-C is how a person stops watching, so it ends the command quietly with exit 0
(as `journalctl -f` does); a plain read interrupted with Ctrl-C exits 130 like any command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from runway.cli.common import Commands, Namespace, say, with_client
from runway.client import Client


def add_commands(commands: Commands) -> None:
    status = commands.add_parser(
        "status", help="environments, or one environment's apps, services and deployments"
    )
    status.add_argument("env", nargs="?", metavar="ENV", help="the environment to show")
    status.add_argument("--url", help="the server (default: the one of the last login)")
    status.set_defaults(run=run_status)

    logs = commands.add_parser("logs", help="a service's container logs, read live")
    logs.add_argument("env", metavar="ENV", help="the environment")
    logs.add_argument("service", type=_app_service, metavar="APP/SERVICE")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.add_argument("--url", help="the server (default: the one of the last login)")
    logs.set_defaults(run=run_logs)


def _app_service(text: str) -> tuple[str, str]:
    app, slash, service = text.partition("/")
    if not slash or not app or not service or "/" in service:
        raise argparse.ArgumentTypeError(f"expected APP/SERVICE, got {text!r}")
    return app, service


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Rows as aligned columns (the last one unpadded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        (
            indent + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        ).rstrip()
        for row in rows
    ]


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _when(value: Any) -> str:
    """An ISO time as `2026-11-28 08:27:41` (UTC, as the server gives it)."""
    return _text(value).replace("T", " ").split(".")[0].removesuffix("Z")


def run_status(args: Namespace) -> int:
    async def work(client: Client) -> int:
        if args.env is None:
            _environments(await client.environments())
        else:
            _apps(await client.environment(args.env))
        return 0

    return with_client(args.url, work)


def _environments(found: list[dict[str, Any]]) -> None:
    if not found:
        say("no environments yet")
        return
    rows: list[tuple[str, ...]] = [("ENVIRONMENT", "OWNER", "ON FAILURE", "NAMESPACE", "CREATED")]
    rows += [
        (
            _text(e["name"]),
            _text(e.get("owner")),
            _text(e.get("on_failure")),
            _text(e.get("namespace")),
            _when(e.get("created_at")),
        )
        for e in found
    ]
    for line in table(rows):
        say(line)


def _apps(env: dict[str, Any]) -> None:
    apps = env.get("apps") or []
    say(
        f"environment {env['name']} (namespace {_text(env.get('namespace'))}): "
        f"{len(apps)} app{'s' if len(apps) != 1 else ''}"
    )
    for app in apps:
        latest = app.get("latest_deployment") or {}
        say()
        say(
            f"app {app['name']}: latest deployment #{_text(latest.get('number'))} "
            f"{_text(latest.get('status'))}"
        )
        rows: list[tuple[str, ...]] = [("SERVICE", "KIND", "STATE", "DEPLOYMENT", "URLS")]
        rows += [
            (
                _text(s["name"]),
                _text(s.get("kind")),
                _text(s.get("status")),
                f"#{_text(s.get('deployment'))}",
                " ".join(s.get("urls") or ()) or "-",
            )
            for s in app.get("services") or ()
        ]
        for line in table(rows, "  "):
            say(line)
        rows = [("DEPLOYMENT", "ID", "STATUS", "CREATED", "FINISHED", "REASON")]
        rows += [
            (
                f"#{_text(d.get('number'))}",
                _text(d["id"]),
                _text(d.get("status")),
                _when(d.get("created_at")),
                _when(d.get("finished_at")),
                _text(d.get("reason")),
            )
            for d in app.get("deployments") or ()
        ]
        for line in table(rows, "  "):
            say(line)


def run_logs(args: Namespace) -> int:
    app, service = args.service

    async def work(client: Client) -> int:
        async for line in client.service_logs(args.env, app, service, follow=args.follow):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        return 0

    try:
        return with_client(args.url, work)
    except KeyboardInterrupt:
        if args.follow:
            return 0
        raise
