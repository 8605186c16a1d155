"""From a valid configuration to its plan: steps in order, their dependencies, depths and inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from runway.config import fields, template
from runway.config.errors import Path
from runway.config.model import Config, Service
from runway.config.references import registry_strings, service_strings
from runway.planner.graph import DependencyGraph, Scheduler


class StepKind(StrEnum):
    """What a step applies: a service, a job, or (in rollbacks) a volume backup or restore."""

    SERVICE = "service"
    JOB = "job"
    BACKUP = "backup"
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class Step:
    """One unit of a plan."""

    name: str
    kind: StepKind
    depends_on: tuple[str, ...]
    """Explicit and implied by references, in the order the services were declared."""
    depth: int
    needs: tuple[str, ...]
    """Every input the step references (directly or through its image's registry): it cannot
    start until all are answered. In the order the inputs were declared."""
    asks: tuple[str, ...]
    """The inputs of `needs` that no earlier step needs: where the dashboard asks them."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A configuration with its steps in plan order and its critical path."""

    config: Config
    steps: tuple[Step, ...]
    critical_path: tuple[str, ...]

    @property
    def app(self) -> str:
        return self.config.app

    def step(self, name: str) -> Step:
        """The step called `name` (KeyError when there is none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def graph(self) -> DependencyGraph:
        """The dependency graph of the steps, in plan order."""
        return DependencyGraph.build(
            [s.name for s in self.steps], {s.name: s.depends_on for s in self.steps}
        )

    def scheduler(self, done: Iterable[str] = ()) -> Scheduler:
        """Which steps may start as others finish; `done` resumes a deployment after a restart."""
        return Scheduler(self.graph(), [s.name for s in self.steps], done)


class PlanCycleError(Exception):
    """The services depend on each other in circles; `found` holds (path, message) for each cycle,
    the path being where the cycle's first dependency is declared."""

    def __init__(self, found: list[tuple[Path, str]]) -> None:
        super().__init__("; ".join(message for _, message in found))
        self.found = found


def make_plan(config: Config) -> Plan:
    """Plan a valid configuration (pure computation); raise PlanCycleError on cycles."""
    services = config.services
    dependencies = {name: _dependencies(service) for name, service in services.items()}
    graph = DependencyGraph.build(list(services), {n: list(d) for n, d in dependencies.items()})
    cycles = graph.find_cycles()
    if cycles:
        found = [
            (dependencies[cycle[0]][cycle[1]], "cycle: " + " -> ".join(cycle)) for cycle in cycles
        ]
        raise PlanCycleError(found)
    order = graph.order()
    depths = graph.depths(order)
    needs = _needs(config)
    asked: set[str] = set()
    steps: list[Step] = []
    for name in order:
        own = needs[name]
        asks = tuple(i for i in own if i not in asked)
        asked.update(asks)
        steps.append(
            Step(
                name=name,
                kind=StepKind(services[name].kind.value),
                depends_on=graph.depends_on[name],
                depth=depths[name],
                needs=own,
                asks=asks,
            )
        )
    return Plan(config, tuple(steps), graph.critical_path(order, depths))


def _dependencies(service: Service) -> dict[str, Path]:
    """Each service this one depends on, with where the dependency is first declared, explicit
    ones first; a reference to itself is not a dependency."""
    found: dict[str, Path] = {
        other: ("services", service.name, "depends_on", index)
        for index, other in enumerate(service.depends_on)
    }
    for path, text, _ in service_strings(service):
        if template.OPEN in text:
            for reference in template.references(text):
                if isinstance(reference, template.ServiceRef) and reference.service != service.name:
                    found.setdefault(reference.service, path)
    return found


def _needs(config: Config) -> Mapping[str, tuple[str, ...]]:
    """The inputs each service references, directly or through the registry of its image."""
    rank = {name: index for index, name in enumerate(config.inputs)}
    by_registry = {host: _inputs_of(registry_strings(r)) for host, r in config.registries.items()}
    needs: dict[str, tuple[str, ...]] = {}
    for name, service in config.services.items():
        used = _inputs_of(service_strings(service))
        host = fields.image_host(service.image)
        if template.OPEN in host:  # the registry is an answer: any of them may be the one
            for registry_inputs in by_registry.values():
                used |= registry_inputs
        else:
            used |= by_registry.get(host, set())
        needs[name] = tuple(sorted(used, key=rank.__getitem__))
    return needs


def _inputs_of(strings: Iterable[tuple[Path, str, object]]) -> set[str]:
    return {
        reference.name
        for _, text, _ in strings
        if template.OPEN in text
        for reference in template.references(text)
        if isinstance(reference, template.InputRef)
    }
