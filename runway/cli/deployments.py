"""`runway deploy`, `runway answer`, `runway start` and `runway cancel`: deployments on a server.

`deploy` sends a configuration, then the answers (`--input-file`, then each `--input`, which
wins), then starts (`--start`) and follows (`--follow`, runway.cli.follow) the deployment. Answers
go as written: the server checks each against its input's type (it takes `"3"` for an integer and
`"true"` for a boolean), so the command line does not guess types the server knows better.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from runway.cli.common import Commands, Namespace, fail, report, say, with_client
from runway.cli.follow import follow
from runway.cli.plan import read_capped
from runway.client import Client, ClientError


def add_commands(commands: Commands) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="send a configuration (and answers) to a server; optionally start and follow it",
        description="Create a deployment of FILE in environment ENV, answer its inputs, and "
        "with --start start it; --follow prints its progress until it ends (exit 0 when it "
        "succeeded, 1 when it failed or was cancelled), asking questions in the terminal.",
    )
    deploy.add_argument(
        "file", metavar="FILE", help="the configuration (YAML or JSON); - reads stdin"
    )
    deploy.add_argument("--env", required=True, metavar="ENV", help="the environment")
    _answer_flags(deploy)
    deploy.add_argument("--start", action="store_true", help="start the deployment")
    deploy.add_argument(
        "--follow", action="store_true", help="print its progress until it ends; ask questions"
    )
    _url_flag(deploy)
    deploy.set_defaults(run=run_deploy)

    answer = commands.add_parser("answer", help="answer the inputs of a deployment")
    answer.add_argument("id", type=_deployment_id, metavar="ID", help="the deployment's id")
    _answer_flags(answer)
    _url_flag(answer)
    answer.set_defaults(run=run_answer)

    for name, verb in (("start", "start"), ("cancel", "cancel")):
        change = commands.add_parser(name, help=f"{verb} a deployment")
        change.add_argument("id", type=_deployment_id, metavar="ID", help="the deployment's id")
        _url_flag(change)
        change.set_defaults(run=run_start if name == "start" else run_cancel)


def _url_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the server (default: the one of the last login)")


def _answer_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        type=_assignment,
        metavar="NAME=VALUE",
        help="an answer (repeat for more); wins over --input-file",
    )
    parser.add_argument(
        "--input-file", metavar="FILE", help="answers as a YAML or JSON mapping NAME: value"
    )


def _assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _deployment_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise argparse.ArgumentTypeError(f"a deployment id is a number, got {text!r}")
    return int(text)


def read_answers(args: Namespace) -> dict[str, Any]:
    """The answers of `--input-file` and `--input`; ValueError saying what is wrong."""
    answers: dict[str, Any] = {}
    if args.input_file:
        try:
            text = Path(args.input_file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise ValueError(f"cannot read {args.input_file}: {reason or error}") from None
        try:
            loaded = json.loads(text) if args.input_file.endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as error:
            where = getattr(error, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise ValueError(f"{args.input_file}{line}: not valid YAML or JSON") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
            raise ValueError(f"{args.input_file}: expected a mapping of input names to answers")
        answers.update(loaded)
    answers.update(dict(args.input))
    return answers


def _content_type(file: str, body: bytes) -> str:
    """JSON or YAML, by the file's extension, else by its first character."""
    suffix = Path(file).suffix.lower() if file != "-" else ""
    if suffix == ".json":
        return "application/json"
    if suffix in (".yaml", ".yml"):
        return "application/yaml"
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "application/json" if start in (b"{", b"[") else "application/yaml"


def run_deploy(args: Namespace) -> int:
    name = "<stdin>" if args.file == "-" else args.file
    try:
        body = read_capped(args.file)
    except OSError as error:
        return fail(f"cannot read {name}: {error.strerror or error}")
    try:
        answers = read_answers(args)
    except ValueError as error:
        return fail(str(error))

    made: list[int] = []

    async def work(client: Client) -> int:
        created = await client.create_deployment(args.env, body, _content_type(args.file, body))
        number, ident = created["number"], created["id"]
        made.append(ident)
        say(f"deployment {ident} (#{number} of {created.get('app')} in {args.env}): created")
        say(f"  monitor: {created.get('monitor_url')}")
        if answers and not await _answered(client, ident, answers):
            return 1
        if args.start:
            started = await client.start_deployment(ident)
            say(f"deployment {ident}: {started['status']}")
        elif args.follow:
            say(f"deployment {ident} is not started; start it with: runway start {ident}")
        if args.follow:
            return await follow(client, ident, interactive=_interactive())
        return 0

    try:
        return with_client(args.url, work)
    except KeyboardInterrupt:
        # Ctrl-C stops watching, not the deployment: say so (exit 130, as interrupted).
        if made and args.follow:
            print(
                f"\nrunway: stopped following; deployment {made[0]} goes on "
                f"(runway cancel {made[0]} stops it)",
                file=sys.stderr,
            )
        return 130


async def _answered(client: Client, ident: int, answers: dict[str, Any]) -> bool:
    """Send the answers; print the refusal (every problem) and what to do, False, when the
    server does not take them: the deployment exists, and can be answered again."""
    try:
        await client.answer(ident, answers)
    except ClientError as error:
        if error.status != 422:
            raise
        report(error)
        print(
            f"  nothing was answered; answer again with: runway answer {ident} --input NAME=VALUE",
            file=sys.stderr,
        )
        return False
    names = ", ".join(sorted(answers))
    say(f"  answered: {names}")
    return True


def _interactive() -> bool:
    """Questions are asked in the terminal only when a person sits at one."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def run_answer(args: Namespace) -> int:
    try:
        answers = read_answers(args)
    except ValueError as error:
        return fail(str(error))
    if not answers:
        return fail("no answers given: use --input NAME=VALUE or --input-file FILE")

    async def work(client: Client) -> int:
        return 0 if await _answered(client, args.id, answers) else 1

    return with_client(args.url, work)


def run_start(args: Namespace) -> int:
    async def work(client: Client) -> int:
        found = await client.start_deployment(args.id)
        say(f"deployment {args.id}: {found['status']}")
        say(f"  monitor: {found.get('monitor_url')}")
        return 0

    return with_client(args.url, work)


def run_cancel(args: Namespace) -> int:
    async def work(client: Client) -> int:
        found = await client.cancel_deployment(args.id)
        say(f"deployment {args.id}: {found['status']}")
        return 0

    return with_client(args.url, work)
