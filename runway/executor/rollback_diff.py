"""What rolling back changes, in words a person checks before typing the confirmation: for each
service the image, command, arguments, environment and replicas that change, the answers that
change (a secret one only as "changed"), and the services added or removed. Pure."""

from __future__ import annotations

from typing import Any

from runway.config.model import Config, Service
from runway.executor.answers import Resolved

_FIELDS = ("image", "command", "args", "replicas", "ports")


def _shown(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    return value


def service_changes(name: str, now: Service, then: Service) -> list[dict[str, Any]]:
    """How `now` (running) becomes `then` (what the rollback applies)."""
    changes: list[dict[str, Any]] = []
    for field in _FIELDS:
        before, after = getattr(now, field), getattr(then, field)
        if before != after:
            changes.append(
                {"service": name, "field": field, "from": _shown(before), "to": _shown(after)}
            )
    for variable in sorted({*now.env, *then.env}):
        before, after = now.env.get(variable), then.env.get(variable)
        if before != after:
            changes.append(
                {"service": name, "field": f"env.{variable}", "from": before, "to": after}
            )
    if {v.name: v for v in now.volumes} != {v.name: v for v in then.volumes}:
        changes.append(
            {
                "service": name,
                "field": "volumes",
                "from": sorted(v.name for v in now.volumes),
                "to": sorted(v.name for v in then.volumes),
            }
        )
    return changes


def config_changes(now: Config, then: Config) -> dict[str, Any]:
    """Every service's changes, and the services added and removed by going from `now` to
    `then`."""
    changes: list[dict[str, Any]] = []
    for name, service in then.services.items():
        running = now.services.get(name)
        if running is not None:
            changes.extend(service_changes(name, running, service))
    return {
        "changes": changes,
        "added": [f"{s.kind.value} {n}" for n, s in then.services.items() if n not in now.services],
        "removed": [
            f"{s.kind.value} {n}" for n, s in now.services.items() if n not in then.services
        ],
    }


def value_changes(
    now: Config, now_answers: Resolved, then: Config, then_answers: Resolved
) -> list[dict[str, Any]]:
    """The answers that differ; a secret one only says it changed, never a value."""
    found: list[dict[str, Any]] = []
    for name in sorted({*now.inputs, *then.inputs}):
        secret = any(
            spec is not None and spec.secret
            for spec in (now.inputs.get(name), then.inputs.get(name))
        )
        if secret:
            before = now_answers.secrets.get(name)
            after = then_answers.secrets.get(name)
            if before != after:
                found.append({"input": name, "secret": True, "changed": True})
            continue
        before_value, after_value = now_answers.values.get(name), then_answers.values.get(name)
        if before_value != after_value:
            found.append({"input": name, "from": before_value, "to": after_value})
    return found
