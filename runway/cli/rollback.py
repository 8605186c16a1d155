"""`runway rollback ID [--confirm ENV]`: what rolling back deployment ID would change and lose
(the dry run), and, only with the environment's name typed as `--confirm`, the rollback itself.
"""

from __future__ import annotations

from runway.cli.common import Commands, Namespace, say, with_client
from runway.client import Client
from runway.client.dry_run import describe


def add_commands(commands: Commands) -> None:
    rollback = commands.add_parser(
        "rollback",
        help="show what rolling back a deployment changes and loses; do it with --confirm",
        description="Without --confirm, print what rolling back deployment ID would do: the "
        "version it goes back to, what changes, which volumes are restored to which moment and "
        "which data written since is lost. With --confirm ENV (the environment's name), start "
        "the rollback.",
    )
    rollback.add_argument("id", type=int, metavar="ID", help="the deployment to roll back")
    rollback.add_argument(
        "--confirm", metavar="ENV", help="the environment's name: perform the rollback"
    )
    rollback.add_argument("--url", help="the server (default: the one of the last login)")
    rollback.set_defaults(run=run_rollback)


def run_rollback(args: Namespace) -> int:
    async def work(client: Client) -> int:
        if args.confirm is None:
            for line in describe(await client.rollback(args.id)):
                say(line)
            return 0
        made = await client.rollback(args.id, args.confirm)
        say(f"rollback deployment {made['id']} (#{made['number']}): {made['status']}")
        say(f"  monitor: {made.get('monitor_url')}")
        return 0

    return with_client(args.url, work)
