"""`runway deploy --follow`: a deployment's progress as lines, until it ends.

The events stream (resumed by the client after a dropped connection) says what changed; when a
step waits for answers, the deployment object says which questions are open. At a terminal
(stdin and stdout both TTYs) each open question is asked there and the answers are sent; a
secret is read without echo, and one that runway can generate is offered to be. Elsewhere (a
script, CI) the command says where to answer instead and keeps following. Exit 0 when the
deployment succeeded, 1 when it failed, was cancelled or superseded (the reason on stderr).

After a failure that changed something, in an environment with `on_failure: manual`, the
rollback is offered (CONTRACT.md): at a terminal, its dry run and a prompt for the environment's
name that confirms it; elsewhere, the `runway rollback ID` command that shows the dry run.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import shlex
from typing import Any

from runway.cli.common import fail, report, say
from runway.client import Client, ClientError, Event
from runway.client.dry_run import describe as describe_dry_run

FINAL = frozenset({"succeeded", "failed", "cancelled", "superseded"})
"""Deployment states that never change again (CONTRACT.md)."""
WAITING = "waiting_for_input"


async def follow(client: Client, ident: int, *, interactive: bool) -> int:
    """Print the deployment's events until it is final; its exit code."""
    asker = Asker(client, ident, interactive=interactive)
    async with contextlib.aclosing(client.events(ident)) as events:
        async for event in events:
            line = describe(event)
            if line:
                say(line)
            status = event.get("status")
            if event.type == "deployment" and status in FINAL:
                code = await _outcome(client, ident, str(status), event.get("reason"))
                return await _offer_rollback(client, ident, str(status), asker.interactive, code)
            if event.type == "question" or (
                event.type in ("step", "deployment") and status == WAITING
            ):
                await asker.open_questions()
    found = await client.deployment(ident)  # the stream ended: the deployment says how
    if found["status"] in FINAL:
        code = await _outcome(client, ident, str(found["status"]), found.get("reason"))
        return await _offer_rollback(client, ident, str(found["status"]), asker.interactive, code)
    return fail(f"the event stream ended while deployment {ident} is {found['status']}")


def describe(event: Event) -> str | None:
    """An event as a progress line; None for those a person following need not see (log
    lines, leases, reveals)."""
    status, reason = event.get("status"), event.get("reason")
    why = f" ({reason})" if reason else ""
    if event.type == "deployment" and status:
        return f"deployment {_words(status)}{why}"
    if event.type == "step" and status:
        return f"  {event.get('step')}: {_words(status)}{why}"
    if event.type == "answer":
        return f"  answered {event.get('input')}"
    if event.type == "question":
        step = event.get("step")
        return f"  question {event.get('input')}" + (f" (asked by {step})" if step else "")
    return None


def _words(status: str) -> str:
    return status.replace("_", " ")


async def _outcome(client: Client, ident: int, status: str, reason: str | None) -> int:
    """0 for a success; else the reason (the deployment's, else its failed steps') and 1."""
    if status == "succeeded":
        return 0
    if not reason:
        found = await client.deployment(ident)
        reason = found.get("reason") or "; ".join(
            f"{step['name']}: {step['reason']}"
            for step in found.get("steps") or ()
            if step.get("status") == "failed" and step.get("reason")
        )
    return fail(f"deployment {ident} {_words(status)}" + (f": {reason}" if reason else ""))


async def _offer_rollback(
    client: Client, ident: int, status: str, interactive: bool, code: int
) -> int:
    """After a failure, offer its rollback when the environment leaves it to people; `code`
    unchanged (the deployment failed, whatever is done about it)."""
    if status != "failed":
        return code
    found = await client.deployment(ident)
    if found.get("rollback_of") is not None:
        return code  # a failed rollback is for a person to look at, not to roll back again
    if not any(step.get("started_at") for step in found.get("steps") or ()):
        return code  # nothing was changed: nothing to go back from
    env = str(found.get("env"))
    try:
        setting = (await client.environment(env, owner=found.get("owner"))).get("on_failure")
        if setting == "rollback":
            say(f"runway rolls deployment {ident} back by itself (on_failure: rollback)")
            return code
        if setting != "manual":
            return code
        dry = await client.rollback(ident)  # a refusal says why before anything is offered
        if not interactive:
            say(f"to see what rolling it back would change and lose: runway rollback {ident}")
            return code
    except ClientError as error:
        if error.status == 409:  # refused: no earlier success, another one active, ...
            fail(f"no rollback offered: {error.message}")  # with the failure, on stderr
        else:
            report(error)
        return code
    say()
    for line in describe_dry_run(dry)[:-2]:  # all but the command line: the prompt replaces it
        say(line)
    say()
    try:
        typed = input(f"type the environment's name ({env}) to roll back, or Enter not to: ")
    except EOFError:
        typed = ""
    if typed.strip() != env:
        say(f"not rolled back; later: runway rollback {ident}")
        return code
    try:
        made = await client.rollback(ident, env)
    except ClientError as error:
        report(error)
        return code
    say(f"rollback deployment {made['id']} (#{made['number']}): {made['status']}")
    say(f"  monitor: {made.get('monitor_url')}")
    return code


class Asker:
    """Asks the open questions of a waiting deployment, or says once where to answer them."""

    def __init__(self, client: Client, ident: int, *, interactive: bool) -> None:
        self.client = client
        self.ident = ident
        self.interactive = interactive
        self.told: set[str] = set()

    async def open_questions(self) -> None:
        """Ask (or point to) the unanswered questions of the steps that wait."""
        found = await self.client.deployment(self.ident)
        waiting = {s["name"] for s in found.get("steps") or () if s.get("status") == WAITING}
        questions = [
            q
            for q in found.get("questions") or ()
            if not q.get("answered") and waiting & set(q.get("needed_by") or ())
        ]
        if not questions:
            return
        if self.interactive:
            try:
                await self._ask(questions)
                return
            except EOFError:  # the person closed stdin (Ctrl-D): from now on, point instead
                say()
                self.interactive = False
        self._point(found, [q for q in questions if q["name"] not in self.told])

    async def _ask(self, questions: list[dict[str, Any]]) -> None:
        by_name = {q["name"]: q for q in questions}
        answers = {q["name"]: ask(q) for q in questions}
        while answers:
            try:
                await self.client.answer(self.ident, answers)
                return
            except ClientError as error:
                if error.status != 422:
                    if error.status == 409:  # no longer answerable (cancelled meanwhile, ...)
                        report(error)
                        return
                    raise
                report(error)
                again = [str(d.get("path")) for d in error.details if d.get("path") in by_name]
                if not again:
                    return
                # A refusal stores nothing: send the good answers again with the new ones.
                answers.update({name: ask(by_name[name]) for name in again})

    def _point(self, found: dict[str, Any], questions: list[dict[str, Any]]) -> None:
        if not questions:
            return
        self.told.update(q["name"] for q in questions)
        for q in questions:
            needed = ", ".join(q.get("needed_by") or ())
            say(f"  waiting for {q['name']} ({q.get('prompt') or q['name']}), needed by {needed}")
        say(f"  answer at {found.get('monitor_url')}")
        example = {
            q["name"]: {"generate": True} if q.get("generate") else "VALUE" for q in questions
        }
        inputs = " ".join(f"--input {q['name']}=VALUE" for q in questions)
        say(f"  or: runway answer {self.ident} {inputs}")
        say(
            "  or: curl -X POST -H 'Authorization: Bearer TOKEN' "
            f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(example))} "
            f"{self.client.url}/api/v1/deployments/{self.ident}/inputs"
        )


def ask(question: dict[str, Any]) -> Any:
    """One question at the terminal: its prompt, description, choices and default; a secret
    without echo (or generated, when it can be). EOFError when stdin is closed."""
    name = str(question["name"])
    kind = question.get("type") or "string"
    say(f"? {question.get('prompt') or name} [{name}, {kind}]")
    if question.get("description"):
        say(f"  {question['description']}")
    if kind == "secret":
        return _secret(question)
    choices = [str(c) for c in question.get("choices") or ()]
    if choices:
        say("  choices: " + ", ".join(f"{i}) {c}" for i, c in enumerate(choices, 1)))
    default = question.get("default")
    shown = f" [{default}]" if default is not None else ""
    while True:
        value = input(f"  {name}{shown}: ").strip()
        if not value and default is not None:
            return default
        if choices and value.isdigit() and 1 <= int(value) <= len(choices):
            return choices[int(value) - 1]
        if value:
            return value


def _secret(question: dict[str, Any]) -> Any:
    size = question.get("generate")
    if size:
        wanted = input(f"  generate a value ({size} characters)? [Y/n] ").strip().lower()
        if wanted in ("", "y", "yes"):
            return {"generate": True}
    while True:
        value = getpass.getpass(f"  {question['name']} (not shown): ")
        if value:
            return value
