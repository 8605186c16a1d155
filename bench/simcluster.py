"""The simulated cluster's own cost, so benchmarks of runway can subtract it.

    python bench/simcluster.py [--objects 10000]

Everything runs in one event loop, as `runway serve --kube sim` does: an in-process simulated
cluster served over HTTP by uvicorn, driven by kubernetes-asyncio. Figures: server-side applies
per second (changing and no-op), lists per second while a watch is open, creates per second, and
the memory 10,000 ConfigMaps take. Each is also given as a ratio to a plain Starlette `/version`
GET served and requested the same way in the same run (the floor of one HTTP round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvicorn
from kubernetes_asyncio import client, config, watch
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runway.simcluster import SimCluster, discovery

APPLY = "application/apply-patch+yaml"


def rss_mb() -> float:
    """The resident set size now (not the peak), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def per_second(step: Callable[[int], Awaitable[object]], count: int) -> float:
    for i in range(min(20, count)):  # warm up connections and caches
        await step(i)
    started = time.perf_counter()
    for i in range(count):
        await step(i)
    return count / (time.perf_counter() - started)


@contextlib.asynccontextmanager
async def baseline_server():
    """A plain Starlette app answering /version, served by uvicorn like the simulator is."""

    async def version(request: Request) -> JSONResponse:
        return JSONResponse(discovery.version())  # the same document the simulator sends

    app = Starlette(routes=[Route("/version/", version)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


def deployment(replicas: int) -> dict:
    labels = {"app": "bench"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench", "labels": {"deploy": str(replicas)}},
        "spec": {
            "replicas": replicas % 5 + 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "env": [{"name": "MODE", "value": "bench"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


async def run(objects: int, rounds: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="runway-sim-bench-"))
    async with baseline_server() as url:
        plain = client.Configuration()
        plain.host = url
        async with client.ApiClient(plain) as api:
            versions = client.VersionApi(api)
            baseline = await per_second(lambda i: versions.get_code(), rounds)

    gc.collect()
    before_cluster = rss_mb()
    cluster = SimCluster()
    await cluster.start()
    cluster.write_kubeconfig(directory / "kubeconfig")
    api = await config.new_client_from_config(config_file=str(directory / "kubeconfig"))
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    await core.create_namespace({"metadata": {"name": "bench"}})

    async def apply(i: int, models: bool = False) -> object:
        response = await apps.patch_namespaced_deployment(
            "bench",
            "bench",
            deployment(i),
            field_manager="bench",
            _content_type=APPLY,
            _preload_content=models,
        )
        if not models:
            await response.read()
        return response

    changing = await per_second(apply, rounds)
    unchanged = await per_second(lambda i: apply(0), rounds)
    changing_models = await per_second(lambda i: apply(i, models=True), rounds)

    for i in range(100):
        await core.create_namespaced_config_map(
            "bench", {"metadata": {"name": f"small-{i:03}"}, "data": {"k": "v" * 100}}
        )
    events = 0

    async def watching() -> None:
        nonlocal events
        async with watch.Watch().stream(core.list_namespaced_config_map, "bench") as stream:
            async for _ in stream:
                events += 1

    watcher = asyncio.create_task(watching())
    await asyncio.sleep(0.2)

    async def raw_list(i: int) -> bytes:
        response = await core.list_namespaced_config_map("bench", _preload_content=False)
        return bytes(await response.read())

    lists = await per_second(raw_list, rounds)
    lists_models = await per_second(lambda i: core.list_namespaced_config_map("bench"), rounds // 5)
    version_via_sim = await per_second(lambda i: client.VersionApi(api).get_code(), rounds)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher

    await core.create_namespace({"metadata": {"name": "many"}})
    gc.collect()
    before_objects = rss_mb()
    started = time.perf_counter()
    batch = 50
    for first in range(0, objects, batch):
        await asyncio.gather(
            *(
                core.create_namespaced_config_map(
                    "many", {"metadata": {"name": f"cm-{n:05}"}, "data": {"key": f"value-{n}"}}
                )
                for n in range(first, min(first + batch, objects))
            )
        )
    creates = objects / (time.perf_counter() - started)
    gc.collect()
    after_objects = rss_mb()
    started = time.perf_counter()
    response = await core.list_namespaced_config_map("many", _preload_content=False)
    size = len(await response.read())
    list_all = time.perf_counter() - started

    await api.close()
    await cluster.stop()

    def row(what: str, rate: float, note: str = "") -> None:
        print(f"{what:44} {rate:8.0f} /s  {baseline / rate:6.2f}x baseline time  {note}")

    print(f"kubernetes-asyncio over HTTP, client and simulator in one event loop; {rounds} rounds")
    print("raw: the response read as bytes (the simulator's share); models: as runway reads it")
    row("baseline: plain Starlette /version GET", baseline)
    row("simulated /version GET", version_via_sim)
    row("server-side apply, changing (raw)", changing)
    row("server-side apply, no-op (raw)", unchanged)
    row("server-side apply, changing (models)", changing_models)
    row("list of 100 ConfigMaps, watch open (raw)", lists, f"{events} watch events")
    row("list of 100 ConfigMaps, watch open (models)", lists_models)
    print(f"{'create ConfigMap, 50 concurrent (models)':44} {creates:8.0f} /s")
    print(
        f"{f'list of {objects:,} ConfigMaps (raw)':44} {list_all * 1000:8.0f} ms"
        f"  {size / 2**20:.1f} MiB"
    )
    print(f"{'memory: simulator at rest':44} {before_objects - before_cluster:8.1f} MiB")
    print(
        f"{f'memory: {objects:,} ConfigMaps':44} {after_objects - before_objects:8.1f} MiB"
        f"  {(after_objects - before_objects) * 2**20 / objects:,.0f} bytes each;"
        f" process RSS {after_objects:.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--objects", type=int, default=10_000, help="ConfigMaps for the memory figure"
    )
    parser.add_argument("--rounds", type=int, default=500, help="requests per throughput figure")
    args = parser.parse_args()
    asyncio.run(run(args.objects, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
