"""The `runway` command line: one module per group of commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from runway import __version__
from runway.cli import account, deployments, plan, rollback, server, sim, status, tui
from runway.cli import demo as demo_command
from runway.cli import install as install_command


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; 0 on success, 1 when it failed (reason on stderr), 2 on usage errors."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`runway plan big.yaml | head`): not an error of ours.
        sys.stderr.close()
        return 0
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runway", description="Deploys applications onto a shared Kubernetes cluster."
    )
    parser.add_argument("--version", action="version", version=f"runway {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (plan, server, account, deployments, rollback, status, sim, tui):
        module.add_commands(commands)
    demo_command.add_commands(commands)
    install_command.add_commands(commands)
    return parser
