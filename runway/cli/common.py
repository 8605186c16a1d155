"""What several commands share: failing with a message, reading passwords."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

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
