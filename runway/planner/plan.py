"""From a valid configuration to its plan: steps in order, their dependencies, depths and inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from runway.config import fields, template
from runway.config.errors import Path
from runway.config.model import Config, Service, ServiceKind
from runway.config.references import mentions_references, registry_strings, service_strings
from runway.planner.graph import CycleError, DependencyGraph, Scheduler


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
    """The explicit dependencies in their order, then those implied by references."""
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
    _by_name: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The first step of a name, as a scan in plan order would find it.
        by_name: dict[str, Step] = {}
        for step in self.steps:
            by_name.setdefault(step.name, step)
        object.__setattr__(self, "_by_name", by_name)

    @property
    def app(self) -> str:
        return self.config.app

    def step(self, name: str) -> Step:
        """The step called `name` (KeyError when there is none)."""
        return self._by_name[name]

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
    dependencies: dict[str, tuple[str, ...]] = {}
    used: dict[str, set[str]] = {}
    for name, service in services.items():
        dependencies[name], used[name] = _references(service)
    # The lists have no repeats (the validator refuses them; _references drops them), so the
    # graph is made directly rather than through build(), which would look for repeats again.
    graph = DependencyGraph(tuple(services), dependencies)
    try:
        analysis = graph.analyse()
    except CycleError as error:
        found = [
            (_declared_at(services[cycle[0]], cycle[1]), "cycle: " + " -> ".join(cycle))
            for cycle in error.cycles
        ]
        raise PlanCycleError(found) from None
    needs = _needs(config, used)
    depths = analysis.depths
    asked: set[str] = set()
    steps: list[Step] = []
    for name in analysis.order:
        own = needs[name]
        asks = tuple([i for i in own if i not in asked]) if own else ()
        asked.update(asks)
        kind = StepKind.JOB if services[name].kind is ServiceKind.JOB else StepKind.SERVICE
        steps.append(Step(name, kind, dependencies[name], depths[name], own, asks))
    return Plan(config, tuple(steps), analysis.critical_path)


def _references(service: Service) -> tuple[tuple[str, ...], set[str]]:
    """The services this one depends on (explicit ones first; a reference to itself is none)
    and the inputs it references directly."""
    inputs: set[str] = set()
    if not mentions_references(service):  # most services: nothing to parse
        return service.depends_on, inputs
    implied: list[str] = []
    for _, text, _ in service_strings(service):
        if template.OPEN not in text:
            continue
        for reference in template.references(text):
            if isinstance(reference, template.InputRef):
                inputs.add(reference.name)
            elif reference.service != service.name:
                implied.append(reference.service)
    if not implied:
        return service.depends_on, inputs
    return tuple(dict.fromkeys([*service.depends_on, *implied])), inputs


def _declared_at(service: Service, dependency: str) -> Path:
    """Where `service` first declares its dependency on `dependency`, for the cycle's error."""
    if dependency in service.depends_on:
        return ("services", service.name, "depends_on", service.depends_on.index(dependency))
    for path, text, _ in service_strings(service):
        for reference in template.references(text):
            if isinstance(reference, template.ServiceRef) and reference.service == dependency:
                return path
    raise AssertionError(f"{service.name} does not depend on {dependency}")  # pragma: no cover


def _needs(config: Config, used: Mapping[str, set[str]]) -> Mapping[str, tuple[str, ...]]:
    """The inputs each service references, directly or through the registry of its image, in
    the order the inputs were declared."""
    rank = {name: index for index, name in enumerate(config.inputs)}
    by_registry = {host: _inputs_of(registry_strings(r)) for host, r in config.registries.items()}
    needs: dict[str, tuple[str, ...]] = {}
    for name, service in config.services.items():
        inputs = used[name]
        if by_registry:
            if template.OPEN in service.image.split("/")[0]:
                # The registry is (part of) an answer: any of them may be the one.
                for registry_inputs in by_registry.values():
                    inputs |= registry_inputs
            else:
                inputs |= by_registry.get(fields.image_host(service.image), set())
        needs[name] = tuple(sorted(inputs, key=rank.__getitem__)) if inputs else ()
    return needs


def _inputs_of(strings: Iterable[tuple[Path, str, object]]) -> set[str]:
    return {
        reference.name
        for _, text, _ in strings
        if template.OPEN in text
        for reference in template.references(text)
        if isinstance(reference, template.InputRef)
    }
