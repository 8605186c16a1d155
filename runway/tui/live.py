"""A deployment kept current from its event stream: each event changes the copy the screen
shows, so steps move without asking the server again. Pure: events in, deployment out."""

from __future__ import annotations

import copy
from typing import Any

from runway.client import Event

REFETCH = frozenset({"answer", "question", "reveal"})
"""Events whose effect the stream does not carry whole (which answer, where it came from): the
screen reads the deployment again after them."""


def apply_event(deployment: dict[str, Any], event: Event) -> dict[str, Any]:
    """The deployment after `event` (a new dict; the old one is not changed)."""
    changed = copy.deepcopy(deployment)
    status, at, reason = event.get("status"), event.data.get("at"), event.get("reason")
    if event.type == "deployment" and status:
        changed["status"] = status
        if reason:
            changed["reason"] = reason
        if status == "running" and not changed.get("started_at"):
            changed["started_at"] = at
        if status in ("succeeded", "failed", "cancelled") and not changed.get("finished_at"):
            changed["finished_at"] = at
    elif event.type == "step" and status:
        for step in changed.get("steps") or ():
            if step.get("name") != event.get("step"):
                continue
            step["status"] = status
            if reason:
                step["reason"] = reason
            if status == "applying" and not step.get("started_at"):
                step["started_at"] = at
            if status in ("succeeded", "failed", "cancelled", "skipped"):
                step["finished_at"] = step.get("finished_at") or at
    return changed


def describe(event: Event) -> str:
    """One line of the event log (never a secret: events carry none)."""
    parts = [event.type]
    for name in ("step", "input", "status"):
        value = event.get(name)
        if value:
            parts.append(value)
    line = " ".join(parts)
    reason = event.get("reason")
    return f"{line}: {reason}" if reason else line
