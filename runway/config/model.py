"""The configuration as typed, frozen values: what the planner, the renderer and the API share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runway.config.units import format_duration

FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
DEFAULT_TIMEOUT = 600
"""Seconds a step may take to become ready (`timeout: 10m`)."""


class InputType(StrEnum):
    """What kind of answer an input takes."""

    STRING = "string"
    SECRET = "secret"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "choice"


class ServiceKind(StrEnum):
    """A long-running service, or a job that runs to completion once per deployment."""

    SERVICE = "service"
    JOB = "job"


Answer = str | int | bool


@dataclass(frozen=True, slots=True)
class Input:
    """A value the configuration asks the person for."""

    name: str
    prompt: str
    type: InputType = InputType.STRING
    description: str | None = None
    default: Answer | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    generate: int | None = None

    @property
    def secret(self) -> bool:
        return self.type is InputType.SECRET


@dataclass(frozen=True, slots=True)
class Registry:
    """Credentials for pulling images from one registry host (may reference inputs)."""

    host: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Volume:
    """A persistent volume of a service, mounted at `mount`, of `size` (a Kubernetes quantity)."""

    name: str
    mount: str
    size: str


@dataclass(frozen=True, slots=True)
class Ready:
    """How to tell a service is ready: HTTP GET of `path` on `port`, or a TCP connect to `port`."""

    port: int
    path: str | None = None

    @property
    def http(self) -> bool:
        return self.path is not None


@dataclass(frozen=True, slots=True)
class Expose:
    """An Ingress for `host` (which may reference non-secret inputs) to `port`."""

    port: int
    host: str


@dataclass(frozen=True, slots=True)
class ResourceList:
    cpu: str | None = None
    memory: str | None = None


@dataclass(frozen=True, slots=True)
class Resources:
    requests: ResourceList = field(default_factory=ResourceList)
    limits: ResourceList = field(default_factory=ResourceList)


@dataclass(frozen=True, slots=True)
class Service:
    """A service or a job of the application (strings keep their `${{ }}` references)."""

    name: str
    image: str
    kind: ServiceKind = ServiceKind.SERVICE
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    replicas: int = 1
    depends_on: tuple[str, ...] = ()
    """Explicit dependencies only; the plan adds those implied by references."""
    volumes: tuple[Volume, ...] = ()
    ready: Ready | None = None
    expose: Expose | None = None
    resources: Resources | None = None
    retries: int = 0
    timeout: int = DEFAULT_TIMEOUT
    """Seconds."""

    @property
    def is_job(self) -> bool:
        return self.kind is ServiceKind.JOB


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, valid configuration. Mappings keep the order in which things were declared."""

    app: str
    services: Mapping[str, Service]
    inputs: Mapping[str, Input] = field(default_factory=dict)
    registries: Mapping[str, Registry] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def to_document(self) -> dict[str, Any]:
        """The configuration in its own format, every default written out: parsing it gives back
        an equal Config, which is how plans are stored and read back."""
        doc: dict[str, Any] = {"runway": self.version, "app": self.app}
        if self.inputs:
            doc["inputs"] = {name: _input_document(i) for name, i in self.inputs.items()}
        if self.registries:
            doc["registries"] = {
                host: {"username": r.username, "password": r.password}
                for host, r in self.registries.items()
            }
        doc["services"] = {name: _service_document(s) for name, s in self.services.items()}
        return doc


def _input_document(i: Input) -> dict[str, Any]:
    doc: dict[str, Any] = {"prompt": i.prompt, "type": i.type.value}
    optional = {
        "description": i.description,
        "default": i.default,
        "choices": list(i.choices) or None,
        "pattern": i.pattern,
        "generate": i.generate,
    }
    doc.update((key, value) for key, value in optional.items() if value is not None)
    return doc


def _service_document(s: Service) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": s.kind.value, "image": s.image}
    if s.command is not None:
        doc["command"] = list(s.command)
    if s.args is not None:
        doc["args"] = list(s.args)
    if s.env:
        doc["env"] = dict(s.env)
    if s.ports:
        doc["ports"] = list(s.ports)
    if not s.is_job:
        doc["replicas"] = s.replicas
    if s.depends_on:
        doc["depends_on"] = list(s.depends_on)
    if s.volumes:
        doc["volumes"] = {v.name: {"mount": v.mount, "size": v.size} for v in s.volumes}
    if s.ready is not None:
        ready = s.ready
        doc["ready"] = (
            {"http": ready.path, "port": ready.port} if ready.http else {"tcp": ready.port}
        )
    if s.expose is not None:
        doc["expose"] = {"port": s.expose.port, "host": s.expose.host}
    if s.resources is not None:
        resources = {
            part: {k: v for k, v in (("cpu", rl.cpu), ("memory", rl.memory)) if v is not None}
            for part, rl in (("requests", s.resources.requests), ("limits", s.resources.limits))
        }
        doc["resources"] = {part: values for part, values in resources.items() if values}
    if s.is_job:
        doc["retries"] = s.retries
    doc["timeout"] = format_duration(s.timeout)
    return doc
