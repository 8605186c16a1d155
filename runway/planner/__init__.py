"""The planner: pure computation from a configuration to ordered steps (no I/O)."""

from __future__ import annotations

from typing import Literal

from runway.config.collector import collector_paused
from runway.config.errors import ConfigError, located
from runway.config.source import load
from runway.config.validate import build_config
from runway.planner.declared import declared_cycles
from runway.planner.document import (
    PlanDocumentError,
    plan_from_document,
    plan_to_document,
)
from runway.planner.graph import CycleError, DependencyGraph, Scheduler
from runway.planner.plan import Plan, PlanCycleError, Step, StepKind, make_plan

__all__ = [
    "CycleError",
    "DependencyGraph",
    "Plan",
    "PlanCycleError",
    "PlanDocumentError",
    "Scheduler",
    "Step",
    "StepKind",
    "make_plan",
    "plan_from_document",
    "plan_source",
    "plan_to_document",
]


def plan_source(source: bytes | str, *, format: Literal["yaml", "json"] | None = None) -> Plan:
    """Parse, validate and plan a configuration; raise ConfigError with every problem, cycles
    included, each with its path (and line, for YAML)."""
    with collector_paused():
        document = load(source, format=format)
        try:
            config = build_config(document)
        except ConfigError as error:
            cycles = located(declared_cycles(document.data), document.line).problems
            if not cycles:
                raise
            problems = sorted((*error.problems, *cycles), key=lambda p: p.line or 1 << 62)
            raise ConfigError(problems) from None
        try:
            return make_plan(config)
        except PlanCycleError as error:
            raise located(error.found, document.line) from None
