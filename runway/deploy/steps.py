"""Running one step of a plan: render it, apply its objects in order, wait for its workload.

`run_step` is the one call the executor makes per step. It owns no state: everything it needs
is in the plan and the target, and everything it does is idempotent (server-side apply of
objects named in advance), so a resumed deployment may run a step again and nothing changes.

Whatever goes wrong reaches the caller as one `StepError` saying, in plain words, which step
failed at which stage and why. The secret values the target carries for composed Secrets are
blotted out of every message first: a cluster that quotes an object it refuses must not carry
a password into the step's reason, the database or a log line.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from runway.deploy.apply import RETRY, Retry, apply
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError, TemporaryError
from runway.deploy.readiness import WAITED_FOR
from runway.deploy.render import render_step
from runway.deploy.render_target import RenderError, Target
from runway.deploy.waiting import wait_ready
from runway.planner import Plan

HIDDEN = "[secret]"
"""What stands in a message where a secret value was."""


class Stage(StrEnum):
    """Where in a step something failed."""

    RENDER = "render"
    APPLY = "apply"
    READY = "ready"


class StepError(DeployError):
    """A step failed; str() says which, at which stage, and why (secret values blotted out).

    `reason` is the why alone, for the step's own record. `retryable` is True when the cause
    was temporary (the cluster unreachable or unwell) and stayed so through every retry:
    running the step again later may work, which an invalid manifest, a crash loop or a
    readiness timeout will not."""

    def __init__(self, step: str, stage: Stage, reason: str, *, retryable: bool) -> None:
        said = {
            Stage.RENDER: "cannot be rendered",
            Stage.APPLY: "could not be applied",
            Stage.READY: "did not become ready",
        }[stage]
        super().__init__(f"step '{step}' {said}: {reason}")
        self.step = step
        self.stage = stage
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Applied:
    """One object as the cluster had it right after it was applied."""

    kind: str
    name: str
    resource_version: str


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds (wall clock) each stage of a step took."""

    render: float
    apply: float
    ready: float

    @property
    def total(self) -> float:
        return self.render + self.apply + self.ready


@dataclass(frozen=True, slots=True)
class StepResult:
    """A step that succeeded: what was applied, in order, and what readiness said."""

    step: str
    applied: tuple[Applied, ...]
    ready: str
    """The readiness verdict in plain words (`Deployment blog-web: 2 of 2 replicas available`,
    `Job blog-migrate-3 completed`)."""
    timings: Timings


async def run_step(
    cluster: Cluster,
    plan: Plan,
    step: str,
    target: Target,
    *,
    timeout: float,
    retry: Retry = RETRY,
    on_applied: Callable[[], Awaitable[None]] | None = None,
    may_act: Callable[[], None] | None = None,
) -> StepResult:
    """Render `step` of `plan` for `target`, server-side apply its objects in order, then wait
    up to `timeout` seconds for its Deployment or Job (the step's own `timeout`, which bounds
    readiness; applying is bounded by `retry`). StepError when any stage fails.

    `on_applied` is awaited once everything is applied, before the wait: the executor records
    there that the step is waiting for readiness (what it raises, run_step raises).
    `may_act` is called before each object is applied: the executor raises there once it is no
    longer sure to hold the deployment (what it raises, run_step raises, applying nothing more)."""
    hide = _Hider(target)
    began = time.perf_counter()
    try:
        manifests = render_step(plan, step, target)
    except RenderError as error:
        raise StepError(step, Stage.RENDER, hide(str(error)), retryable=False) from None
    rendered = time.perf_counter()
    applied: list[Applied] = []
    answers: list[dict[str, Any]] = []
    for manifest in manifests:
        if may_act is not None:
            may_act()
        try:
            answer = await apply(cluster, manifest, retry)
        except DeployError as error:
            said, what = hide(str(error)), _what(manifest)
            reason = said if said.startswith(what) else f"{what}: {said}"
            raise StepError(step, Stage.APPLY, reason, retryable=_retryable(error)) from None
        applied.append(_applied(manifest, answer))
        answers.append(answer)
    done_applying = time.perf_counter()
    if on_applied is not None:
        await on_applied()
    waiting = time.perf_counter()
    ready = "nothing to wait for"
    for manifest, answer in zip(manifests, answers, strict=True):
        if manifest.get("kind") not in WAITED_FOR:
            continue
        try:
            waited = await wait_ready(
                cluster, manifest, timeout=timeout, applied=answer, may_act=may_act
            )
            ready = waited.reason
        except DeployError as error:
            raise StepError(
                step, Stage.READY, hide(str(error)), retryable=_retryable(error)
            ) from None
    finished = time.perf_counter()
    return StepResult(
        step=step,
        applied=tuple(applied),
        ready=hide(ready),
        timings=Timings(rendered - began, done_applying - rendered, finished - waiting),
    )


def _applied(manifest: dict[str, Any], answer: dict[str, Any]) -> Applied:
    meta = answer.get("metadata") or {}
    return Applied(
        kind=str(answer.get("kind") or manifest.get("kind")),
        name=str(meta.get("name") or manifest["metadata"]["name"]),
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def _what(manifest: dict[str, Any]) -> str:
    return f"{manifest.get('kind')} {(manifest.get('metadata') or {}).get('name')}"


def _retryable(error: DeployError) -> bool:
    return isinstance(error, TemporaryError)  # ClusterUnavailable among them


class _Hider:
    """Blots a target's secret values (as written, and base64-encoded as a Secret's `data`
    holds them) out of a message. Longest first, so a value containing another is hidden
    whole."""

    def __init__(self, target: Target) -> None:
        found: set[str] = set()
        for value in target.secret_values.values():
            if value:
                found.add(value)
                found.add(base64.b64encode(value.encode()).decode("ascii"))
        self.values = sorted(found, key=len, reverse=True)

    def __call__(self, message: str) -> str:
        for value in self.values:
            message = message.replace(value, HIDDEN)
        return message
