"""The deployment and step state machines of DESIGN.md (Executing), as one table each, checked in
one place: every status change the executor, the API or the store makes goes through `check`.

The tables say which changes exist at all; the rules of when (from the first failure nothing new
starts, waiting holds no slot, ...) live in the executor, which only ever asks for a change the
table allows. A change the table forbids is a `TransitionError`: the API answers it with `409`
naming the current status.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from runway.store.records import DeploymentStatus, StepStatus

D = DeploymentStatus
S = StepStatus

DEPLOYMENT: Mapping[D, frozenset[D]] = {
    D.CREATED: frozenset({D.RUNNING, D.SUPERSEDED, D.CANCELLED}),
    D.RUNNING: frozenset({D.WAITING_FOR_INPUT, D.FAILED, D.SUCCEEDED, D.CANCELLED}),
    D.WAITING_FOR_INPUT: frozenset({D.RUNNING, D.FAILED, D.CANCELLED}),
    D.SUCCEEDED: frozenset(),
    D.FAILED: frozenset(),
    D.CANCELLED: frozenset(),
    D.SUPERSEDED: frozenset(),
}
"""Deployment status -> the statuses it may change to (DESIGN.md's table)."""

STEP: Mapping[S, frozenset[S]] = {
    # A step leaves `pending` when its dependencies succeeded: it applies, or waits for the
    # answers it still lacks; it is skipped after a failure elsewhere, or cancelled.
    S.PENDING: frozenset({S.APPLYING, S.WAITING_FOR_INPUT, S.SKIPPED, S.CANCELLED}),
    S.WAITING_FOR_INPUT: frozenset({S.APPLYING, S.SKIPPED, S.CANCELLED}),
    # `applying` again: an instance resuming a deployment re-applies (server-side apply is
    # idempotent) whatever it finds applying or waiting for readiness.
    S.APPLYING: frozenset({S.APPLYING, S.WAITING_READY, S.FAILED, S.CANCELLED}),
    S.WAITING_READY: frozenset({S.APPLYING, S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""Step status -> the statuses it may change to."""

ACTIVE = frozenset({D.RUNNING, D.WAITING_FOR_INPUT})
"""Deployments an executor is working on (one per app and environment at a time)."""

FINAL = frozenset(status for status, onward in DEPLOYMENT.items() if not onward)
"""Deployments that will never change again."""

STEP_FINAL = frozenset(status for status, onward in STEP.items() if not onward)
STEP_STARTED = frozenset({S.APPLYING, S.WAITING_READY})
"""Steps that touched the cluster and have not settled."""


class TransitionError(Exception):
    """A status change the table forbids; the message says what it is and what it was asked."""

    def __init__(
        self, what: str, current: StrEnum, wanted: StrEnum, allowed: frozenset[StrEnum]
    ) -> None:
        self.current = current
        self.wanted = wanted
        onward = ", ".join(sorted(allowed)) if allowed else "nothing: it is final"
        super().__init__(
            f"the {what} is {current}, so it cannot become {wanted} (it can become {onward})"
        )


def check_deployment(current: D, wanted: D) -> None:
    """Raise TransitionError unless a deployment may go from `current` to `wanted`."""
    if wanted not in DEPLOYMENT[current]:
        raise TransitionError("deployment", current, wanted, frozenset(DEPLOYMENT[current]))


def check_step(current: S, wanted: S) -> None:
    """Raise TransitionError unless a step may go from `current` to `wanted`."""
    if wanted not in STEP[current]:
        raise TransitionError("step", current, wanted, frozenset(STEP[current]))


def sources(wanted: D) -> frozenset[D]:
    """The deployment statuses from which `wanted` may be reached: the compare-and-set guard of
    the store's update (`WHERE status IN ...`), so two instances never both make a change."""
    return frozenset(status for status, onward in DEPLOYMENT.items() if wanted in onward)


def step_sources(wanted: S) -> frozenset[S]:
    """The step statuses from which `wanted` may be reached."""
    return frozenset(status for status, onward in STEP.items() if wanted in onward)
