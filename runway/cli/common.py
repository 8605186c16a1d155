"""What several commands share: failing with a message, reading passwords, talking to the
server of the last login with its token."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from runway.client import Client, ClientError, load_credentials

Commands = Any  # argparse's _SubParsersAction is private; its add_parser is what is used
Namespace = argparse.Namespace


def fail(message: str) -> int:
    """Print `runway: message` to stderr; the exit code of a command that failed."""
    print(f"runway: {message}", file=sys.stderr)
    return 1


def read_passwords(count: int, from_stdin: bool, prompts: list[str]) -> list[str]:
    """`count` passwords: one per line of stdin, or asked at the terminal without echo."""
    if from_stdin:
        lines = sys.stdin.read().splitlines()
        if len(lines) < count:
            raise ValueError(f"expected {count} line(s) on stdin, got {len(lines)}")
        return lines[:count]
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password; use --password-stdin")
    return [getpass.getpass(prompt) for prompt in prompts[:count]]


def say(text: str = "") -> None:
    """A line on stdout, flushed at once: progress must show while a command still runs."""
    print(text, flush=True)


def session(url: str | None) -> tuple[str, str]:
    """The server and token to use: `--url` (default: the last login's server) and the stored
    token; ValueError saying what to run when there is none for that server."""
    saved = load_credentials()
    if saved is None:
        target = url.rstrip("/") if url else "URL"
        raise ValueError(f"not logged in; run: runway login {target} --user NAME")
    chosen = (url or saved.url).rstrip("/")
    if chosen != saved.url:
        # The saved token belongs to the server it came from: never send it anywhere else.
        raise ValueError(f"not logged in to {chosen}; run: runway login {chosen} --user NAME")
    return chosen, saved.token


def report(error: ClientError, url: str = "URL") -> int:
    """A refusal as people read it: the server's message, then each problem on a line of its own
    (`path: message`); what to do when the token is not (or no longer) good. Exit code 1."""
    message = error.message or error.code
    if error.status == 401:
        message += f"; log in again: runway login {url} --user NAME"
    fail(message)
    for detail in error.details:
        path, text = detail.get("path"), detail.get("message")
        if text:  # a 409's details say the status as data; its message says it for people
            print(f"  {path}: {text}" if path else f"  {text}", file=sys.stderr)
    return 1


def with_client(url: str | None, work: Callable[[Client], Awaitable[int]]) -> int:
    """Run `work` with a client of the server (`url`, else the last login's) and its token; a
    refusal, an unreachable server or an answer that is not runway's is a message and exit 1."""
    try:
        chosen, token = session(url)
    except ValueError as error:
        return fail(str(error))

    async def run() -> int:
        async with Client(chosen, token) as client:
            return await work(client)

    try:
        return asyncio.run(run())
    except ClientError as error:
        return report(error, chosen)
    except (KeyError, TypeError, AttributeError) as error:
        # The server answered JSON of another shape than runway's: say so, no traceback.
        missing = f" (no {error} in it)" if isinstance(error, KeyError) else ""
        return fail(f"{chosen} gave an answer runway does not understand{missing}: is it runway?")
