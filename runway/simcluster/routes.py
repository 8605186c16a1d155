"""The resource endpoints under `/api` and `/apis`: paths to resources, verbs to operations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from runway.simcluster import discovery, protobuf
from runway.simcluster.bodies import (
    JSON,
    MAX_BODY,
    YAML,
    Decoded,
    decode_json,
    decode_yaml,
    encode,
    media_type,
    query_bool,
    query_int,
    too_large,
)
from runway.simcluster.catalogue import ResourceType
from runway.simcluster.controllers.pods import Container, container_of, follow_log
from runway.simcluster.decoding import VALIDATIONS
from runway.simcluster.deletion import delete_options
from runway.simcluster.errors import (
    BadRequest,
    FieldError,
    Invalid,
    MethodNotAllowed,
    NoRoute,
    Object,
    UnsupportedMediaType,
    not_supported,
)
from runway.simcluster.listing import list_objects, selection
from runway.simcluster.objects import WriteOptions, Written
from runway.simcluster.watch import open_watch

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_STOPPING = "runway-sim/stopping"
"""A store key no object is ever kept under: its subscriptions only learn that the server stops."""


@dataclass(frozen=True)
class Target:
    """What a path under /api or /apis names."""

    rt: ResourceType
    namespace: str | None  # None: cluster-scoped, or every namespace
    name: str | None
    subresource: str | None


def resolve(cluster: SimCluster, parts: list[str]) -> Target | Object:
    """A resource target, or the discovery document the path names; NoRoute otherwise."""
    catalogue = cluster.catalogue
    if parts[0] == "api":
        if len(parts) == 1:
            return discovery.api_versions(cluster.address)
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) == 1:
            return discovery.api_group_list(catalogue)
        if len(parts) == 2:
            found = discovery.api_group(catalogue, parts[1])
            if found is None:
                raise NoRoute()
            return found
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        listing = discovery.resource_list(catalogue, group, version)
        if listing is None:
            raise NoRoute()
        return listing
    namespace: str | None = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES)
    ):
        namespace, rest = rest[1], rest[2:]
    rt = catalogue.find(group, version, rest[0])
    if rt is None or len(rest) > 3 or (namespace is not None and not rt.namespaced):
        raise NoRoute()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if rt.namespaced and namespace is None and name is not None:
        raise NoRoute()
    served = {n for n, _ in rt.extra_subresources} | ({"status"} if rt.status else set())
    if subresource is not None and subresource not in served:
        raise NoRoute()
    return Target(rt, namespace, name, subresource)


async def read_object(request: Request) -> Decoded:
    """A POST or PUT body: JSON, YAML, or protobuf for the kinds `kubectl create` writes."""
    kind = media_type(request.headers.get("content-type"))
    raw = await read_body(request)
    if kind == JSON:
        return decode_json(raw)
    if kind == YAML:
        return Decoded(decode_yaml(raw))
    if kind == protobuf.MEDIA_TYPE:
        with contextlib.suppress(protobuf.Unsupported):
            return Decoded(protobuf.decode(raw))
    raise UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        f"{JSON}, {YAML}"
    )


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 past what a real API server accepts."""
    length = request.headers.get("content-length")
    if length and re.fullmatch(r"[0-9]+", length) and int(length) > MAX_BODY:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def json_response(body: Object, code: int = 200, warnings: list[str] | None = None) -> Response:
    response = Response(encode(body), status_code=code, media_type="application/json")
    for warning in warnings or ():
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.append("Warning", f'299 - "{escaped}"')
    return response


def _written(result: Written) -> Response:
    return json_response(result.obj, 201 if result.created else 200, result.warnings)


_OPTIONS = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


def write_options(request: Request) -> WriteOptions:
    """The options of a write, refused (422) the way a real server validates them."""
    params = request.query_params
    dry_run = params.getlist("dryRun")
    validation = params.get("fieldValidation") or "Warn"
    manager = params.get("fieldManager")
    problems = [not_supported("dryRun", v, ["All"]) for v in dry_run if v != "All"]
    if validation not in VALIDATIONS:
        problems.append(not_supported("fieldValidation", validation, list(VALIDATIONS)))
    if manager and len(manager.encode()) > 128:
        problems.append(FieldError("TooLong", "fieldManager", "may not be more than 128 bytes"))
    if problems:
        raise Invalid("meta.k8s.io", _OPTIONS[request.method], "", problems)
    return WriteOptions(
        validation=validation,
        manager=manager or _product(request.headers.get("user-agent", "")),
        manager_given=bool(manager),
        dry_run=bool(dry_run),
        force=query_bool(params, "force"),
    )


def _product(user_agent: str) -> str:
    """The default field manager: the User-Agent up to its first '/', at most 128 bytes."""
    product = "".join(c for c in user_agent.split("/", 1)[0] if c.isprintable())
    return product.encode()[:128].decode(errors="ignore")


async def handle(cluster: SimCluster, request: Request, parts: list[str]) -> Response:
    """Serve one request under /api or /apis (errors propagate to the app's handler)."""
    found = resolve(cluster, parts)
    if not isinstance(found, Target):
        if request.method != "GET":
            raise MethodNotAllowed()
        return json_response(found)
    rt, namespace, name, sub = found.rt, found.namespace, found.name, found.subresource
    method = request.method
    params = request.query_params
    objects = cluster.objects
    if name is None:
        scope = namespace if rt.namespaced else ""
        if method == "GET":
            if query_bool(params, "watch"):
                watch = open_watch(cluster.store, rt, namespace, params, cluster.bookmark_interval)
                return StreamingResponse(watch.lines(), media_type="application/json")
            return json_response(list_objects(cluster.store, rt, namespace, params))
        if method == "POST" and scope is not None and "create" in rt.verbs:
            body = await read_object(request)
            return _written(objects.create(rt, scope, body, write_options(request)))
        if method == "DELETE" and "deletecollection" in rt.verbs:
            options = delete_options(params, await read_body(request))
            matches = selection(rt, params)
            return json_response(
                cluster.lifecycle.delete_collection(rt, namespace, matches, options)
            )
        raise MethodNotAllowed()
    scope = namespace or ""
    if sub == "log":
        if method != "GET":
            raise MethodNotAllowed()
        return _log(cluster, objects.get(rt, scope, name), params)
    if method == "GET":
        return json_response(objects.get(rt, scope, name))
    if method == "PUT":
        body = await read_object(request)
        return _written(objects.replace(rt, scope, name, body, sub, write_options(request)))
    if method == "PATCH":
        raw = await read_body(request)
        kind = media_type(request.headers.get("content-type"))
        return _written(objects.patch(rt, scope, name, kind, raw, sub, write_options(request)))
    if method == "DELETE" and sub is None:
        deleted = cluster.lifecycle.delete(
            rt, scope, name, delete_options(params, await read_body(request))
        )
        return json_response(deleted.body, deleted.code, deleted.warnings)
    raise MethodNotAllowed()


def _log(cluster: SimCluster, pod: Object, params: Mapping[str, str]) -> Response:
    """A container's simulated output, as `pods/log` serves it: checked as the kubelet checks
    (a container not started yet is a 400 saying why), `previous`, `tailLines`, and `follow`
    (streamed until that run of the container stops, its pod goes, or the client leaves).
    `timestamps`, `sinceSeconds`, `sinceTime` and `limitBytes` are not simulated (ignored)."""
    spec = pod.get("spec") or {}
    names = [
        c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
    ]
    name = pod["metadata"]["name"]
    container = params.get("container")
    if container is None and len(spec.get("containers") or []) > 1:
        raise BadRequest(
            f"a container name must be specified for pod {name}, choose one of: "
            f"[{' '.join(str(n) for n in names)}]"
        )
    if container is not None and container not in names:
        raise BadRequest(f"container {container} is not valid for pod {name}")
    tail = query_int(params, "tailLines")
    if tail is not None and tail < 0:
        problem = FieldError(
            "Invalid", "tailLines", "must be greater than or equal to 0", str(tail)
        )
        raise Invalid("", "PodLogOptions", name, [problem])
    chosen = container or str(names[0] if names else "")
    previous = query_bool(params, "previous")
    if not _log_readable(pod, chosen, previous):
        return PlainTextResponse("", media_type="text/plain")  # no node yet: nothing to read
    found = container_of(cluster, pod, chosen)
    if found is not None and query_bool(params, "follow") and not previous:
        return StreamingResponse(_followed(cluster, found, tail), media_type="text/plain")
    output = [] if found is None else found.previous_logs if previous else found.logs
    shown = output if tail is None else output[len(output) - min(tail, len(output)) :]
    return PlainTextResponse("".join(f"{line}\n" for line in shown), media_type="text/plain")


async def _followed(
    cluster: SimCluster, container: Container, tail: int | None
) -> AsyncIterator[bytes]:
    """A followed log's body, ended when the server stops as watches are (`close_all` closes
    every subscription, this one's too: nothing is ever written under its key)."""
    stopping = cluster.store.subscribe(_STOPPING)
    closed = asyncio.ensure_future(stopping.get())
    closed.add_done_callback(lambda _: container.wake())
    try:
        async for chunk in follow_log(container, tail, lambda: stopping.closed):
            yield chunk.encode()
    finally:
        closed.cancel()
        cluster.store.unsubscribe(stopping)


def _log_readable(pod: Object, container: str, previous: bool) -> bool:
    """Whether a container has a log to read, as the kubelet decides from the pod's status;
    False for a pod not scheduled yet (a real server answers an empty 200 then). A container
    that has not started is refused with the kubelet's words (a 400): `container "web" in pod
    "p" is waiting to start: ContainerCreating`."""
    status = pod.get("status") or {}
    scheduled = any(
        c.get("type") == "PodScheduled" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    entries = [
        *(status.get("containerStatuses") or ()),
        *(status.get("initContainerStatuses") or ()),
    ]
    entry = next((e for e in entries if e.get("name") == container), None)
    pod_name = pod["metadata"]["name"]
    where = f'container "{container}" in pod "{pod_name}"'
    if entry is None:
        if not scheduled:
            return False
        raise BadRequest(f"{where} is not available")
    state, last = entry.get("state") or {}, (entry.get("lastState") or {}).get("terminated")
    if previous:
        if not last or not last.get("containerID"):
            raise BadRequest(
                f'previous terminated container "{container}" in pod "{pod_name}" not found'
            )
        return True
    if "running" in state or (state.get("terminated") or {}).get("containerID"):
        return True
    if (last or {}).get("containerID"):
        return True
    if "terminated" in state:
        raise BadRequest(f"{where} is terminated")
    reason = str((state.get("waiting") or {}).get("reason") or "")
    if reason == "ErrImagePull":
        raise BadRequest(f"{where} is waiting to start: image can't be pulled")
    if reason == "ImagePullBackOff":
        raise BadRequest(f"{where} is waiting to start: trying and failing to pull image")
    if reason:
        raise BadRequest(f"{where} is waiting to start: {reason}")
    raise BadRequest(f"{where} is waiting to start - no logs yet")


def status_response(body: Object) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode() + b"\n",
        status_code=int(body["code"]),
        media_type="application/json",
    )
