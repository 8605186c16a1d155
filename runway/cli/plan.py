"""`runway plan` and `runway schema`: the configuration format, without a server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from runway.cli.common import Commands, Namespace
from runway.config import ConfigError
from runway.config.schema import config_schema
from runway.config.source import MAX_BYTES
from runway.planner import Plan, plan_source, plan_to_document


def add_commands(commands: Commands) -> None:
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
    plan.set_defaults(run=run_plan)

    schema = commands.add_parser("schema", help="print the JSON Schema of the configuration format")
    schema.set_defaults(run=run_schema)


def run_plan(args: Namespace) -> int:
    name = "<stdin>" if args.file == "-" else args.file
    try:
        source = read_capped(args.file)
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
        print_plan(plan, sys.stdout)
    return 0


def read_capped(file: str) -> bytes:
    """At most one byte past the limit: enough for the loader to refuse it, however large the
    file (or endless the stream) is."""
    if file == "-":
        return sys.stdin.buffer.read(MAX_BYTES + 1)
    with Path(file).open("rb") as stream:
        return stream.read(MAX_BYTES + 1)


def print_plan(plan: Plan, out: TextIO) -> None:
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


def run_schema(args: Namespace) -> int:
    json.dump(config_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
