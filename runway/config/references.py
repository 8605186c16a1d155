"""Where references may stand: every string of a configuration that can hold `${{ }}`, with its
path and what it may refer to. The validator checks them; the planner reads dependencies and
inputs from them."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Flag

from runway.config.errors import Path
from runway.config.model import Config, Registry, Service


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


def service_strings(service: Service) -> Iterator[tuple[Path, str, Allowed]]:
    """Every string of a service that may hold references, in document order."""
    base: Path = ("services", service.name)
    yield (*base, "image"), service.image, IMAGE
    for key in ("command", "args"):
        for index, item in enumerate(getattr(service, key) or ()):
            yield (*base, key, index), item, COMMAND
    for name, value in service.env.items():
        yield (*base, "env", name), value, ENV
    if service.expose is not None:
        yield (*base, "expose", "host"), service.expose.host, HOST


def registry_strings(registry: Registry) -> Iterator[tuple[Path, str, Allowed]]:
    """The credentials of a registry, which may reference inputs, secret ones included."""
    base: Path = ("registries", registry.host)
    yield (*base, "username"), registry.username, REGISTRY
    yield (*base, "password"), registry.password, REGISTRY


def config_strings(config: Config) -> Iterator[tuple[Path, str, Allowed]]:
    """Every string of a configuration that may hold references."""
    for registry in config.registries.values():
        yield from registry_strings(registry)
    for service in config.services.values():
        yield from service_strings(service)
