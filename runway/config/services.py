"""The `services` section: each service or job, field by field."""

from __future__ import annotations

from typing import Any

from runway.config import fields, references
from runway.config.checker import Checker
from runway.config.errors import Path
from runway.config.model import (
    DEFAULT_TIMEOUT,
    Expose,
    Ready,
    ResourceList,
    Resources,
    Service,
    ServiceKind,
    Volume,
)
from runway.config.units import parse_duration, parse_quantity


def read_services(check: Checker, value: object) -> dict[str, Service]:
    """Every well-formed service, in declaration order; problems of the others are recorded."""
    section = check.mapping(("services",), value, "a mapping of service names to their definitions")
    if section is None:
        return {}
    if not section:
        check.problem(("services",), "declare at least one service")
    names = frozenset(section)
    services: dict[str, Service] = {}
    hosts: dict[str, str] = {}
    claims: dict[str, tuple[str, str]] = {}
    for name, spec in section.items():
        path: Path = ("services", name)
        named = check.label(path, name, fields.SERVICE_MAX)
        errors = len(check.problems)
        service = _service(check, path, name, spec, names)
        if service is not None and service.expose is not None:
            host = service.expose.host
            if host in hosts:
                check.problem(
                    (*path, "expose", "host"), f"'{host}' is already exposed by {hosts[host]}"
                )
            hosts.setdefault(host, name)
        if service is not None:
            _claims_apart(check, path, service, claims)
        if named and service is not None and len(check.problems) == errors:
            services[name] = service
    return services


def _claims_apart(
    check: Checker, path: Path, service: Service, claims: dict[str, tuple[str, str]]
) -> None:
    """Each volume becomes the claim `<app>-<service>-<volume>`: `web` with volume `data-x` and
    `web-data` with volume `x` would share one, so their data."""
    for volume in service.volumes:
        claim = f"{service.name}-{volume.name}"
        other = claims.setdefault(claim, (service.name, volume.name))
        if other != (service.name, volume.name):
            check.problem(
                (*path, "volumes", volume.name),
                f"volume '{volume.name}' of '{service.name}' and volume '{other[1]}' of "
                f"'{other[0]}' would be the same claim, <app>-{claim}; rename one",
            )


def _service(
    check: Checker, path: Path, name: str, value: object, names: frozenset[str]
) -> Service | None:
    spec = check.mapping(path, value, "a mapping with at least an image")
    if spec is None:
        return None
    check.keys(path, spec, fields.SERVICE_KEYS, fields.SERVICE_REQUIRED)
    kind = check.member((*path, "kind"), spec.get("kind", "service"), ServiceKind, "kind")
    if kind is not None:
        wrong = fields.SERVICE_ONLY_KEYS if kind is ServiceKind.JOB else fields.JOB_ONLY_KEYS
        for key in wrong:
            if key in spec:
                check.problem((*path, key), _misplaced(key, kind))
    image = _image(check, (*path, "image"), spec["image"]) if "image" in spec else None
    command = _strings(check, path, spec, "command")
    args = _strings(check, path, spec, "args")
    env = _env(check, path, spec.get("env", {}))
    ports = _ports(check, path, spec.get("ports", []))
    volumes = _volumes(check, path, spec.get("volumes", {}))
    replicas = _replicas(check, path, spec, volumes)
    depends_on = _depends_on(check, path, name, spec.get("depends_on", []), names)
    ready = _ready(check, (*path, "ready"), spec["ready"]) if "ready" in spec else None
    expose = _expose(check, (*path, "expose"), spec["expose"], ports) if "expose" in spec else None
    resources = (
        _resources(check, (*path, "resources"), spec["resources"]) if "resources" in spec else None
    )
    low, high = 0, fields.RETRIES_MAX
    retries = (
        check.integer((*path, "retries"), spec["retries"], low, high) if "retries" in spec else 0
    )
    timeout = (
        _timeout(check, (*path, "timeout"), spec["timeout"])
        if "timeout" in spec
        else DEFAULT_TIMEOUT
    )
    if kind is None or image is None or replicas is None or retries is None or timeout is None:
        return None
    return Service(
        name=name,
        image=image,
        kind=kind,
        command=command,
        args=args,
        env=env,
        ports=ports,
        replicas=replicas if kind is ServiceKind.SERVICE else 1,
        depends_on=depends_on,
        volumes=volumes,
        ready=ready,
        expose=expose,
        resources=resources,
        retries=retries,
        timeout=timeout,
    )


def _misplaced(key: str, kind: ServiceKind) -> str:
    if kind is ServiceKind.SERVICE:
        return f"'{key}' applies only to jobs (kind: job)"
    reasons = {
        "replicas": "a job runs once per deployment",
        "volumes": "a job has no volumes of its own; volumes belong to long-running services",
        "ready": "a job is done when it completes",
        "expose": "a job has no Service to expose",
    }
    return f"'{key}' does not apply to jobs: {reasons[key]}"


def _image(check: Checker, path: Path, value: object) -> str | None:
    image = check.bounded(
        path, check.text(path, value, references=references.IMAGE), fields.IMAGE_MAX
    )
    if image is None:
        return None
    if "${{" not in image and not fields.IMAGE.fullmatch(image):
        check.problem(
            path,
            f"'{image}' is not an image reference such as postgres:16.4 or ghcr.io/org/app:1.2",
        )
        return None
    return image


def _strings(check: Checker, path: Path, spec: dict[str, Any], key: str) -> tuple[str, ...] | None:
    if key not in spec:
        return None
    items = check.sequence((*path, key), spec[key], "a list of texts")
    if items is None:
        return None
    read = [
        check.written_text((*path, key, i), item, references=references.COMMAND)
        for i, item in enumerate(items)
    ]
    return tuple(item for item in read if item is not None)


def _env(check: Checker, path: Path, value: object) -> dict[str, str]:
    where = (*path, "env")
    section = check.mapping(where, value, "a mapping of variable names to values")
    env: dict[str, str] = {}
    for name, item in (section or {}).items():
        if not fields.ENV_NAME.fullmatch(name):
            check.problem(
                (*where, name),
                f"'{name}' is not a variable name "
                "(letters, digits and '_', not starting with a digit)",
            )
            continue
        if isinstance(item, dict | list):
            kind = "a mapping" if isinstance(item, dict) else "a list"
            check.problem(
                (*where, name), f"expected a text value, got {kind}; quote it to pass it as text"
            )
            continue
        text = check.written_text((*where, name), item, references=references.ENV)
        if text is not None:
            env[name] = text
    return env


def _ports(check: Checker, path: Path, value: object) -> tuple[int, ...]:
    items = check.sequence((*path, "ports"), value, "a list of port numbers")
    low, high = fields.PORT_RANGE
    ports = check.unique(
        (*path, "ports"),
        items or (),
        lambda where, item: check.integer(where, item, low, high),
        lambda port: f"port {port}",
    )
    return tuple(ports)


def _replicas(
    check: Checker, path: Path, spec: dict[str, Any], volumes: tuple[Volume, ...]
) -> int | None:
    if "replicas" not in spec:
        return 1
    replicas = check.integer((*path, "replicas"), spec["replicas"], 0)
    if replicas is not None and volumes and replicas != 1:
        check.problem(
            (*path, "replicas"),
            f"a service with volumes runs exactly 1 replica, not {replicas}: each volume is "
            "mounted by one pod at a time (ReadWriteOnce)",
        )
        return None
    return replicas


def _depends_on(
    check: Checker, path: Path, name: str, value: object, names: frozenset[str]
) -> tuple[str, ...]:
    items = check.sequence((*path, "depends_on"), value, "a list of service names")
    found: list[str] = []
    for index, item in enumerate(items or ()):
        where = (*path, "depends_on", index)
        other = check.text(where, item)
        if other is None:
            continue
        if other == name:
            check.problem(where, f"'{name}' cannot depend on itself")
        elif other not in names:
            check.problem(where, f"unknown service '{other}'{check.hint(other, names)}")
        elif other in found:
            check.problem(where, f"'{other}' is listed twice")
        else:
            found.append(other)
    return tuple(found)


def _volumes(check: Checker, path: Path, value: object) -> tuple[Volume, ...]:
    where = (*path, "volumes")
    section = check.mapping(where, value, "a mapping of volume names to {mount, size}")
    volumes: list[Volume] = []
    mounts: dict[str, str] = {}
    for name, item in (section or {}).items():
        here = (*where, name)
        named = check.label(here, name, fields.VOLUME_MAX)
        spec = check.mapping(here, item, "a mapping with mount and size")
        if spec is None:
            continue
        check.keys(here, spec, fields.VOLUME_KEYS, fields.VOLUME_KEYS)
        mount = check.text((*here, "mount"), spec["mount"]) if "mount" in spec else None
        if mount is not None and not fields.MOUNT.fullmatch(mount):
            check.problem(
                (*here, "mount"),
                f"'{mount}' is not a normalised absolute path such as /var/lib/data",
            )
            mount = None
        if mount is not None and mount in mounts:
            check.problem(
                (*here, "mount"), f"'{mount}' is also where volume '{mounts[mount]}' is mounted"
            )
            mount = None
        size = (
            _quantity(
                check, (*here, "size"), spec["size"], "a size such as 1Gi or 500Mi", positive=True
            )
            if "size" in spec
            else None
        )
        if mount is not None:
            mounts[mount] = name
        if named and mount is not None and size is not None:
            volumes.append(Volume(name, mount, size))
    return tuple(volumes)


def _ready(check: Checker, path: Path, value: object) -> Ready | None:
    spec = check.mapping(path, value, "{http: /path, port: P} or {tcp: P}")
    if spec is None:
        return None
    low, high = fields.PORT_RANGE
    if "tcp" in spec:
        check.keys(path, spec, fields.READY_TCP_KEYS, fields.READY_TCP_KEYS)
        port = check.integer((*path, "tcp"), spec["tcp"], low, high)
        return Ready(port) if port is not None and len(spec) == 1 else None
    if "http" not in spec:
        check.problem(path, "expected {http: /path, port: P} or {tcp: P}")
        return None
    check.keys(path, spec, fields.READY_HTTP_KEYS, fields.READY_HTTP_KEYS)
    where = (*path, "http")
    url_path = check.text(where, spec["http"]) if "http" in spec else None
    if url_path is not None and not url_path.startswith("/"):
        check.problem(where, f"'{url_path}' is not a path; it starts with '/', such as /healthz")
        url_path = None
    port = check.integer((*path, "port"), spec["port"], low, high) if "port" in spec else None
    if url_path is None or port is None:
        return None
    return Ready(port, url_path)


def _expose(check: Checker, path: Path, value: object, ports: tuple[int, ...]) -> Expose | None:
    spec = check.mapping(path, value, "{port: P, host: name}")
    if spec is None:
        return None
    check.keys(path, spec, fields.EXPOSE_KEYS, fields.EXPOSE_KEYS)
    port = (
        check.integer((*path, "port"), spec["port"], *fields.PORT_RANGE) if "port" in spec else None
    )
    if port is not None and port not in ports:
        listed = ", ".join(map(str, ports)) or "none"
        check.problem((*path, "port"), f"port {port} is not one of the service's ports ({listed})")
        port = None
    where = (*path, "host")
    host = check.text(where, spec["host"], references=references.HOST) if "host" in spec else None
    if (
        host is not None
        and "${{" not in host
        and (not fields.HOST.fullmatch(host) or len(host) > fields.HOST_MAX)
    ):
        check.problem(where, f"'{host}' is not a host name such as blog.example.com")
        host = None
    if port is None or host is None:
        return None
    return Expose(port, host)


def _resources(check: Checker, path: Path, value: object) -> Resources | None:
    spec = check.mapping(path, value, "{requests: {cpu, memory}, limits: {cpu, memory}}")
    if spec is None:
        return None
    check.keys(path, spec, fields.RESOURCES_KEYS)
    lists: dict[str, ResourceList] = {}
    for part in fields.RESOURCES_KEYS:
        here = (*path, part)
        section = check.mapping(here, spec.get(part, {}), "{cpu, memory}")
        if section is None:
            continue
        check.keys(here, section, fields.RESOURCE_KEYS, what="resource")
        values = {
            key: _quantity(check, (*here, key), section[key], _QUANTITY_WORDS[key])
            for key in fields.RESOURCE_KEYS
            if key in section
        }
        lists[part] = ResourceList(values.get("cpu"), values.get("memory"))
    requests, limits = lists.get("requests", ResourceList()), lists.get("limits", ResourceList())
    for key in fields.RESOURCE_KEYS:
        low, high = getattr(requests, key), getattr(limits, key)
        if (
            low is not None
            and high is not None
            and (parse_quantity(low) or 0) > (parse_quantity(high) or 0)
        ):
            check.problem((*path, "requests", key), f"requests {low} is more than limits {high}")
    return Resources(requests, limits)


_QUANTITY_WORDS = {
    "cpu": "a CPU amount such as 500m or 2",
    "memory": "a memory amount such as 256Mi or 1Gi",
}


def _quantity(
    check: Checker, path: Path, value: object, words: str, positive: bool = False
) -> str | None:
    text = check.written_text(path, value)
    if text is None:
        return None
    amount = parse_quantity(text)
    if amount is None or amount < 0 or (positive and amount == 0):
        check.problem(path, f"'{text}' is not {words}")
        return None
    return text


def _timeout(check: Checker, path: Path, value: object) -> int | None:
    text = check.written_text(path, value)
    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds is None:
        hint = f"; write {text}s for seconds" if text.isdigit() else ""
        check.problem(path, f"'{text}' is not a duration such as 90s, 10m or 1h{hint}")
        return None
    if not 0 < seconds <= fields.TIMEOUT_MAX:
        check.problem(path, f"'{text}' is out of range: from 1s to {fields.TIMEOUT_MAX // 3600}h")
        return None
    return seconds
