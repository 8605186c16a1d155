"""Cycles among the services as written, for a document the validator refused: a person fixing
a configuration should learn of its cycles in the same run as of its other mistakes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runway.config import template
from runway.config.errors import Path
from runway.config.references import Allowed, declared_strings
from runway.planner.graph import DependencyGraph


def declared_cycles(data: object) -> list[tuple[Path, str]]:
    """Each cycle of the declared dependencies (explicit and through references to services),
    with where its first dependency is declared; whatever is malformed is skipped."""
    services = data.get("services") if isinstance(data, Mapping) else None
    if not isinstance(services, Mapping):
        return []
    names = [name for name in services if isinstance(name, str)]
    known = set(names)
    edges = {name: _dependencies(name, services[name], known) for name in names}
    graph = DependencyGraph(tuple(names), {name: tuple(found) for name, found in edges.items()})
    return [
        (edges[cycle[0]][cycle[1]], "cycle: " + " -> ".join(cycle)) for cycle in graph.find_cycles()
    ]


def _dependencies(name: str, spec: object, known: set[str]) -> dict[str, Path]:
    if not isinstance(spec, Mapping):
        return {}
    found: dict[str, Path] = {}
    listed = spec.get("depends_on")
    for index, other in enumerate(listed if isinstance(listed, list) else ()):
        # Itself is a problem of its own ("cannot depend on itself"), not a cycle to report.
        if isinstance(other, str) and other in known and other != name:
            found.setdefault(other, ("services", name, "depends_on", index))
    for path, text, allowed in declared_strings(name, _mapping(spec)):
        if Allowed.SERVICES not in allowed or template.OPEN not in text:
            continue
        try:
            references = template.references(text)
        except template.TemplateError:
            continue
        for reference in references:
            other = getattr(reference, "service", None)
            if other in known and other != name:
                found.setdefault(other, path)
    return found


def _mapping(spec: Mapping[Any, Any]) -> Mapping[str, Any]:
    return {key: value for key, value in spec.items() if isinstance(key, str)}
