"""Plans as versioned JSON documents: stored with each deployment, read back by later versions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runway.config.errors import ConfigError
from runway.config.source import Document
from runway.config.validate import build_config
from runway.planner.plan import Plan, Step, StepKind

KIND = "runway.plan"
VERSION = 1
"""Bump when the document's shape changes, and keep reading every older version."""


class PlanDocumentError(ValueError):
    """A stored plan document is malformed or of a version this runway cannot read."""


def plan_to_document(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data; `plan_from_document` gives back an equal Plan."""
    return {
        "kind": KIND,
        "version": VERSION,
        "app": plan.app,
        "steps": [
            {
                "name": s.name,
                "kind": s.kind.value,
                "depends_on": list(s.depends_on),
                "depth": s.depth,
                "needs": list(s.needs),
                "asks": list(s.asks),
            }
            for s in plan.steps
        ],
        "critical_path": list(plan.critical_path),
        "config": plan.config.to_document(),
    }


def plan_from_document(document: object) -> Plan:
    """Read a stored plan as it was decided (steps are not planned again)."""
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise PlanDocumentError(f"not a plan document (expected kind {KIND!r})")
    version = document.get("version")
    if version != VERSION:
        raise PlanDocumentError(
            f"plan document version {version!r} is not one this runway reads ({VERSION}); "
            "it was written by a newer runway"
        )
    try:
        config = build_config(Document(document.get("config"), {}, {}, "json"))
    except ConfigError as error:
        raise PlanDocumentError(f"the plan's configuration is invalid: {error}") from error
    steps = tuple(_step(index, item) for index, item in enumerate(_list(document, "steps")))
    _check_steps(steps, config.services.keys())
    critical = tuple(_texts(document, "critical_path"))
    if not set(critical) <= {step.name for step in steps}:
        raise PlanDocumentError("the critical path names unknown steps")
    return Plan(config, steps, critical)


def _check_steps(steps: tuple[Step, ...], services: Iterable[str]) -> None:
    """The steps are a plan of the configuration: one per service, each after its dependencies."""
    names = [step.name for step in steps]
    if len(set(names)) != len(names):
        raise PlanDocumentError("a step appears twice")
    applied = [s.name for s in steps if s.kind in (StepKind.SERVICE, StepKind.JOB)]
    if sorted(applied) != sorted(services):
        raise PlanDocumentError("the steps do not match the configuration's services one to one")
    placed: set[str] = set()
    for step in steps:
        missing = [d for d in step.depends_on if d not in placed]
        if missing:
            raise PlanDocumentError(f"step {step.name!r} comes before its dependencies {missing}")
        placed.add(step.name)


def _step(index: int, item: object) -> Step:
    if not isinstance(item, dict):
        raise PlanDocumentError(f"steps[{index}] is not a mapping")
    name, kind, depth = item.get("name"), item.get("kind"), item.get("depth")
    if not isinstance(name, str) or not isinstance(depth, int) or isinstance(depth, bool):
        raise PlanDocumentError(f"steps[{index}] needs a text name and an integer depth")
    try:
        step_kind = StepKind(str(kind))
    except ValueError:
        raise PlanDocumentError(f"steps[{index}] has unknown kind {kind!r}") from None
    return Step(
        name=name,
        kind=step_kind,
        depends_on=tuple(_texts(item, "depends_on")),
        depth=depth,
        needs=tuple(_texts(item, "needs")),
        asks=tuple(_texts(item, "asks")),
    )


def _list(mapping: dict[str, Any], key: str) -> list[Any]:
    value = mapping.get(key)
    if not isinstance(value, list):
        raise PlanDocumentError(f"{key!r} is not a list")
    return value


def _texts(mapping: dict[str, Any], key: str) -> list[str]:
    value = _list(mapping, key)
    if not all(isinstance(item, str) for item in value):
        raise PlanDocumentError(f"{key!r} holds something other than text")
    return value
