"""The simulated cluster's test-only admin API, under `/_sim` (JSON; absent unless enabled).

Served only by a cluster made with `admin=True` (`runway sim-cluster --admin`); over HTTPS it
needs the cluster's bearer token like the Kubernetes API does. Not a Kubernetes API: tests use it
to steer and observe the simulator.

- `GET /_sim/behaviour`, `PUT /_sim/behaviour` `{ready_delay?, slow_delay?, image_delays?}`:
  the delays of simulated images (seconds; `image_delays` maps an image reference to its delay
  and replaces the whole map). Answers the behaviour in force.
- `GET /_sim/faults`; `POST /_sim/faults` `{kind, status?, seconds?, count?, duration?, path?,
  method?, message?}` (see `runway.simcluster.faults`; answers 201 with the fault);
  `DELETE /_sim/faults` clears them all.
- `GET /_sim/volumes/{namespace}/{claim}/files`: the files of a bound claim's volume;
  `GET|PUT|DELETE /_sim/volumes/{namespace}/{claim}/files/{path}`: one file's bytes (its owner
  and mode in the `X-Sim-Uid`, `X-Sim-Gid` and `X-Sim-Mode` headers); PUT takes the bytes as the
  body and `uid`, `gid`, `mode` (octal) in the query string.
- `POST /_sim/compact`: forget the change history so far, as etcd's compaction does (the store's
  `compact`): a watch or a consistent list from an older resourceVersion then gets `410
  Expired`, so tests can show that clients list again. Answers `{"oldest": N}`, the oldest
  resourceVersion that still works.
- `GET /_sim/requests?since=N`: the Kubernetes API requests received (not the admin API's own)
  with index, time, method, path, query, status and User-Agent; `next` is the `since` that
  returns only newer ones.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runway.simcluster.app import RecordedRequest
from runway.simcluster.faults import FaultError
from runway.simcluster.volumes import File, VolumeError

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

_BEHAVIOUR_FIELDS = ("ready_delay", "slow_delay", "image_delays")


class RequestLog(deque[RecordedRequest]):
    """The requests a cluster received (bounded), numbered from 0 since it started."""

    def __init__(self, iterable: Iterable[RecordedRequest] = (), maxlen: int = 10_000) -> None:
        super().__init__(iterable, maxlen)
        self.total = 0

    def append(self, item: RecordedRequest) -> None:
        self.total += 1
        super().append(item)

    def since(self, index: int) -> list[tuple[int, RecordedRequest]]:
        """The requests numbered `index` and after that are still kept."""
        first = self.total - len(self)
        return [(first + i, r) for i, r in enumerate(self) if first + i >= index]


class AdminError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _json(body: Any, code: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode() + b"\n",
        status_code=code,
        media_type="application/json",
    )


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise AdminError(400, "the body is not JSON") from None


def _handled(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except AdminError as error:
            return _json({"error": error.message}, error.code)

    return run


def create_admin_app(cluster: SimCluster) -> Starlette:
    """The `/_sim` app of one cluster (mounted by `runway.simcluster.app.create_app`)."""

    def behaviour_body() -> dict[str, Any]:
        behaviour = cluster.behaviour
        return {
            "ready_delay": behaviour.ready_delay,
            "slow_delay": behaviour.slow_delay,
            "image_delays": dict(behaviour.image_delays),
        }

    async def behaviour(request: Request) -> Response:
        if request.method == "PUT":
            _set_behaviour(cluster, await _body(request))
        return _json(behaviour_body())

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                fault = cluster.faults.add(await _body(request))
            except FaultError as error:
                raise AdminError(error.code, str(error)) from None
            return _json(fault.describe(), 201)
        if request.method == "DELETE":
            return _json({"cleared": cluster.faults.clear()})
        return _json({"items": cluster.faults.describe()})

    def volume_of(request: Request) -> str:
        namespace = request.path_params["namespace"]
        name = request.path_params["claim"]
        claim = cluster.store.get("/persistentvolumeclaims", namespace, name)
        if claim is None:
            raise AdminError(404, f'persistentvolumeclaims "{name}" not found in {namespace}')
        volume = (claim.get("spec") or {}).get("volumeName")
        if (claim.get("status") or {}).get("phase") != "Bound" or not volume:
            raise AdminError(409, f"persistentvolumeclaim {namespace}/{name} is not bound")
        return str(volume)

    async def files(request: Request) -> Response:
        volume = volume_of(request)
        listed = [
            {"path": path, "size": len(f.data), "uid": f.uid, "gid": f.gid, "mode": oct(f.mode)}
            for path, f in sorted(cluster.volumes.files(volume).items())
        ]
        return _json({"volume": volume, "files": listed})

    async def file(request: Request) -> Response:
        volume = volume_of(request)
        path = request.path_params["path"]
        try:
            if request.method == "PUT":
                written = File(
                    await request.body(),
                    uid=_int(request, "uid", 10),
                    gid=_int(request, "gid", 10),
                    mode=_int(request, "mode", 8, 0o644),
                )
                cluster.volumes.write(volume, path, written)
                return _json({"path": path, "size": len(written.data)}, 200)
            if request.method == "DELETE":
                if not cluster.volumes.remove_file(volume, path):
                    raise AdminError(404, f"no file {path} in {volume}")
                return _json({"path": path})
            found = cluster.volumes.read(volume, path)
        except VolumeError as error:
            raise AdminError(400, str(error)) from None
        if found is None:
            raise AdminError(404, f"no file {path} in {volume}")
        headers = {
            "X-Sim-Uid": str(found.uid),
            "X-Sim-Gid": str(found.gid),
            "X-Sim-Mode": oct(found.mode),
        }
        return Response(found.data, media_type="application/octet-stream", headers=headers)

    async def compact(request: Request) -> Response:
        cluster.store.compact()
        return _json({"oldest": cluster.store.oldest})

    async def requests(request: Request) -> Response:
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            raise AdminError(400, "since must be a whole number")
        log = cluster.requests
        numbered = (
            log.since(int(since))
            if isinstance(log, RequestLog)
            else [(i, r) for i, r in enumerate(log) if i >= int(since)]
        )
        total = log.total if isinstance(log, RequestLog) else len(log)
        items = [
            {
                "index": index,
                "time": r.time,
                "method": r.method,
                "path": r.path,
                "query": r.query,
                "status": r.status,
                "user_agent": r.user_agent,
            }
            for index, r in numbered
            if not r.path.startswith("/_sim")
        ]
        return _json({"items": items, "next": total})

    routes = [
        Route("/behaviour", _handled(behaviour), methods=["GET", "PUT"]),
        Route("/faults", _handled(faults), methods=["GET", "POST", "DELETE"]),
        Route("/volumes/{namespace}/{claim}/files", _handled(files), methods=["GET"]),
        Route(
            "/volumes/{namespace}/{claim}/files/{path:path}",
            _handled(file),
            methods=["GET", "PUT", "DELETE"],
        ),
        Route("/requests", _handled(requests), methods=["GET"]),
        Route("/compact", _handled(compact), methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _int(request: Request, name: str, base: int, default: int = 0) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value, base)
    except ValueError:
        raise AdminError(400, f"{name} must be a number") from None
    if number < 0:
        raise AdminError(400, f"{name} must be >= 0")
    return number


def _set_behaviour(cluster: SimCluster, body: Any) -> None:
    if not isinstance(body, dict):
        raise AdminError(400, "the behaviour is a JSON object")
    unknown = sorted(set(body) - set(_BEHAVIOUR_FIELDS))
    if unknown:
        raise AdminError(400, f"unknown fields: {', '.join(unknown)}")
    delays: dict[str, float] = {}
    for name in ("ready_delay", "slow_delay"):
        if name in body:
            delays[name] = _delay(name, body[name])
    images = body.get("image_delays")
    if images is not None and not isinstance(images, dict):
        raise AdminError(400, "image_delays maps image references to seconds")
    image_delays = {str(k): _delay(f"image_delays[{k}]", v) for k, v in (images or {}).items()}
    behaviour = cluster.behaviour
    behaviour.ready_delay = delays.get("ready_delay", behaviour.ready_delay)
    behaviour.slow_delay = delays.get("slow_delay", behaviour.slow_delay)
    if images is not None:
        behaviour.image_delays.clear()
        behaviour.image_delays.update(image_delays)


MAX_DELAY = 3600.0
"""The longest delay an image may be given: beyond an hour no test means it."""


def _delay(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminError(400, f"{name} must be a number of seconds >= 0")
    if isinstance(value, float) and not math.isfinite(value):
        raise AdminError(422, f"{name} must be a finite number of seconds")
    if value < 0:
        raise AdminError(400, f"{name} must be a number of seconds >= 0")
    if value > MAX_DELAY:
        raise AdminError(422, f"{name} must be at most {MAX_DELAY:g} seconds")
    return float(value)
