"""Where references may stand: every string of a service that can hold `${{ }}`, with its path
and what it may refer to. One table serves the validator, the planner, and the planner's look at
a document that is still invalid."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import Flag
from typing import Any

from runway.config import template
from runway.config.errors import Path
from runway.config.model import Registry, Service


class Allowed(Flag):
    """What the references of one field may name."""

    NONE = 0
    INPUTS = 1
    SECRETS = 2
    SERVICES = 4


IMAGE = Allowed.INPUTS
COMMAND = Allowed.INPUTS | Allowed.SERVICES
ENV = Allowed.INPUTS | Allowed.SECRETS | Allowed.SERVICES
HOST = Allowed.INPUTS
REGISTRY = Allowed.INPUTS | Allowed.SECRETS

FIELDS: tuple[tuple[Path, str, Allowed], ...] = (
    (("image",), "text", IMAGE),
    (("command",), "list", COMMAND),
    (("args",), "list", COMMAND),
    (("env",), "map", ENV),
    (("expose", "host"), "text", HOST),
)
"""Each field of a service that may hold references: its path in the service, whether it is a
text, a list of texts or a map of texts, and what its references may name."""


def service_strings(service: Service) -> Iterator[tuple[Path, str, Allowed]]:
    """Every string of a valid service that may hold references, in document order."""
    fields: dict[str, Any] = {
        "image": service.image,
        "command": service.command,
        "args": service.args,
        "env": service.env,
        "expose": {"host": service.expose.host} if service.expose else None,
    }
    return declared_strings(service.name, fields)


def declared_strings(name: str, spec: Mapping[str, Any]) -> Iterator[tuple[Path, str, Allowed]]:
    """The same strings of a service as written in a document, skipping values of another
    shape (the validator reports those)."""
    for field_path, layout, allowed in FIELDS:
        value: Any = spec
        for key in field_path:
            value = value.get(key) if isinstance(value, Mapping) else None
        base = ("services", name, *field_path)
        if layout == "text":
            if isinstance(value, str):
                yield base, value, allowed
        elif layout == "list":
            if isinstance(value, list | tuple):
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        yield (*base, index), item, allowed
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, str):
                    yield (*base, key), item, allowed


def mentions_references(service: Service) -> bool:
    """Whether any string of `service_strings` holds `${{` (planning asks this of every service,
    so it avoids building paths)."""
    if template.OPEN in service.image:
        return True
    if service.env and any(template.OPEN in value for value in service.env.values()):
        return True
    for strings in (service.command, service.args):
        if strings and any(template.OPEN in item for item in strings):
            return True
    return service.expose is not None and template.OPEN in service.expose.host


def registry_strings(registry: Registry) -> Iterator[tuple[Path, str, Allowed]]:
    """The credentials of a registry, which may reference inputs, secret ones included."""
    base: Path = ("registries", registry.host)
    yield (*base, "username"), registry.username, REGISTRY
    yield (*base, "password"), registry.password, REGISTRY
