"""The `runway` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from runway import __version__
from runway.config import ConfigError
from runway.config.schema import config_schema
from runway.planner import Plan, plan_source, plan_to_document


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

    plan = commands.add_parser(
        "plan",
        help="validate a configuration and print its steps",
        description="Validate a configuration and print its steps in order with their "
        "dependencies and inputs, then the critical path. Needs no server.",
    )
    plan.add_argument(
        "file", metavar="FILE", help="the configuration (YAML or JSON); - reads stdin"
    )
    plan.add_argument("--json", action="store_true", help="print the plan document as JSON")
    plan.add_argument(
        "--format", choices=("yaml", "json"), help="the file's format (default: detected)"
    )
    plan.set_defaults(run=_plan)

    schema = commands.add_parser("schema", help="print the JSON Schema of the configuration format")
    schema.set_defaults(run=_schema)

    sim = commands.add_parser(
        "sim-cluster",
        help="run the simulated Kubernetes cluster (for tests and demos)",
        description="Serve the simulated Kubernetes API (in memory) until interrupted, and write a "
        "kubeconfig that points at it. Not a real cluster: nothing runs.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    sim.add_argument("--kubeconfig", metavar="FILE", help="where to write the kubeconfig")
    sim.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a generated certificate and a token"
    )
    sim.set_defaults(run=_sim_cluster)
    return parser


def _plan(args: argparse.Namespace) -> int:
    name = "<stdin>" if args.file == "-" else args.file
    try:
        source = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as error:
        print(f"runway: cannot read {name}: {error.strerror or error}", file=sys.stderr)
        return 1
    try:
        plan = plan_source(source, format=args.format)
    except ConfigError as error:
        for problem in error.problems:
            where = f"{name}:{problem.line}" if problem.line is not None else name
            path = f" {problem.path}:" if problem.path else ""
            print(f"{where}:{path} {problem.message}", file=sys.stderr)
        count = len(error.problems)
        print(
            f"{name}: {count} problem{'s' if count != 1 else ''}; nothing planned", file=sys.stderr
        )
        return 1
    if args.json:
        json.dump(plan_to_document(plan), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_plan(plan, sys.stdout)
    return 0


def _print_plan(plan: Plan, out: TextIO) -> None:
    steps = plan.steps
    out.write(f"app {plan.app}: {len(steps)} step{'s' if len(steps) != 1 else ''}\n")
    rows = [("step", "kind", "depth", "depends on", "asks")]
    rows += [
        (
            s.name,
            s.kind.value,
            str(s.depth),
            ", ".join(s.depends_on) or "-",
            ", ".join(s.asks) or "-",
        )
        for s in steps
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  " + "  ".join([*cells, row[4]]).rstrip() + "\n")
    path = plan.critical_path
    out.write(
        f"critical path: {' -> '.join(path)} ({len(path)} step{'s' if len(path) != 1 else ''})\n"
    )
    inputs = plan.config.inputs.values()
    if inputs:
        described = []
        for i in inputs:
            notes = [str(i.type)] if i.type != "string" else []
            if i.generate:
                notes.append(f"can be generated, {i.generate} characters")
            if i.default is not None:
                notes.append(f"default {json.dumps(i.default)}")
            described.append(f"{i.name} ({', '.join(notes)})" if notes else i.name)
        out.write(f"inputs: {', '.join(described)}\n")


def _sim_cluster(args: argparse.Namespace) -> int:
    # Imported here: only this command needs the simulator.
    from runway.simcluster.standalone import run

    return run(host=args.host, port=args.port, kubeconfig=args.kubeconfig, tls=args.tls)


def _schema(args: argparse.Namespace) -> int:
    json.dump(config_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
