"""List-then-watch (runway.deploy.watch) against the simulated cluster: it follows every change,
resumes after a dropped connection without losing an event or listing again, lists again when
the history it would resume from is gone (410), and gives up only on a permanent error."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import Any

import pytest

from runway.deploy.errors import PermanentError, TemporaryError
from runway.deploy.watch import Snapshot, watch_objects
from tests.deploy.conftest import World

pytestmark = pytest.mark.anyio


class Follower:
    """Runs `watch_objects` in a task, keeping every snapshot and every error it reports."""

    def __init__(self, world: World, path: str, **options: Any) -> None:
        self.snapshots: list[Snapshot] = []
        self.errors: list[TemporaryError] = []
        self._changed = asyncio.Event()
        self._watch: AsyncGenerator[Snapshot, None] = watch_objects(
            world.cluster, path, on_error=self.errors.append, **options
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Follower:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._watch.aclose()

    async def _run(self) -> None:
        async for snapshot in self._watch:
            self.snapshots.append(snapshot)
            self._changed.set()

    async def until(self, check: Callable[[Snapshot], bool], seconds: float = 15.0) -> Snapshot:
        """The first snapshot from now on (or the latest) for which `check` holds."""
        assert self._task is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            if self.snapshots and check(self.snapshots[-1]):
                return self.snapshots[-1]
            if self._task.done():
                self._task.result()
                raise AssertionError("the watch ended")
            if loop.time() > deadline:
                last = self.snapshots[-1] if self.snapshots else None
                raise AssertionError(f"never got there; last snapshot: {last}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.2)


async def _namespace(world: World, name: str) -> str:
    world.require_sim()
    await world.cluster.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    return f"/api/v1/namespaces/{name}/configmaps"


async def _put(world: World, path: str, name: str, value: str) -> dict[str, Any]:
    """Create or change the ConfigMap `name` to hold `{"v": value}` (without a GET, which a
    fault on the collection's GETs would drop); its new state."""
    body = {"metadata": {"name": name}, "data": {"v": value}}
    try:
        return await world.cluster.request("POST", path, body=body)
    except PermanentError as error:
        if "already exists" not in str(error):
            raise
    return await world.cluster.request(
        "PATCH", f"{path}/{name}", body=body, content_type="application/merge-patch+json"
    )


def _values(snapshot: Snapshot) -> dict[str, str]:
    return {name: obj["data"]["v"] for name, obj in snapshot.items()}


async def _requests(world: World, since: int, path: str) -> list[dict[str, Any]]:
    """The simulator's log of the GETs (lists and watches) of `path` from `since` on, each
    with its `params`."""
    found, _ = await world.requests_since(since)
    return [
        {**r, "params": dict(urllib.parse.parse_qsl(r["query"]))}
        for r in found
        if r["path"] == path and r["method"] == "GET"
    ]


def _is_watch(request: dict[str, Any]) -> bool:
    return request["params"].get("watch") in ("true", "True")


async def _clear_faults(world: World) -> None:
    async with world.admin() as http:
        assert (await http.delete("/_sim/faults")).status_code == 200


async def _until_dropped(world: World, since: int, path: str, times: int) -> None:
    """Wait until `times` requests to `path` were dropped (status 0) since `since`."""
    for _ in range(300):
        dropped = [r for r in await _requests(world, since, path) if r["status"] == 0]
        if len(dropped) >= times:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} was never dropped {times} times")


async def test_lists_then_follows_every_change(world: World, namespace_name: str) -> None:
    path = await _namespace(world, namespace_name)
    await _put(world, path, "a", "1")
    await _put(world, path, "other", "x")
    _, since = await world.requests_since(0)
    async with Follower(world, path, field_selector="metadata.name!=other") as follower:
        assert _values(await follower.until(lambda s: "a" in s)) == {"a": "1"}
        await _put(world, path, "b", "1")
        await _put(world, path, "a", "2")
        await world.cluster.request("DELETE", f"{path}/b")
        await _put(world, path, "other", "y")  # not selected: never seen
        await follower.until(lambda s: _values(s) == {"a": "2"} and len(follower.snapshots) >= 4)
    seen = [_values(s) for s in follower.snapshots]
    assert seen == [{"a": "1"}, {"a": "1", "b": "1"}, {"a": "2", "b": "1"}, {"a": "2"}]
    listed, watched = await _requests(world, since, path)
    assert not _is_watch(listed) and listed["params"]["fieldSelector"] == "metadata.name!=other"
    assert _is_watch(watched) and watched["params"]["allowWatchBookmarks"] == "true"
    first = follower.snapshots[0]["a"]["metadata"]["resourceVersion"]
    assert int(watched["params"]["resourceVersion"]) >= int(first)  # the list's version


async def test_a_dropped_connection_is_resumed_without_losing_an_event(
    world: World, namespace_name: str
) -> None:
    path = await _namespace(world, namespace_name)
    await _put(world, path, "a", "1")
    _, since = await world.requests_since(0)
    # The server ends each watch after a second; every request after that is dropped until
    # the faults are cleared, and the write falls in that gap, when no watch is open.
    async with Follower(world, path, timeout_seconds=1) as follower:
        await follower.until(lambda s: "a" in s)
        await world.inject(kind="drop", path=path, method="GET")
        await _until_dropped(world, since, path, 1)
        written = await _put(world, path, "a", "2")
        await _until_dropped(world, since, path, 2)
        await _clear_faults(world)
        found = await follower.until(lambda s: _values(s) == {"a": "2"})
    assert found["a"]["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]
    # (aiohttp asks again once itself when a kept-alive connection drops: at least one error)
    assert follower.errors and all("dropped" in str(e) for e in follower.errors)
    requests = await _requests(world, since, path)
    assert [r for r in requests if not _is_watch(r)] == requests[:1]  # listed once, never again
    resumed = [r for r in requests if _is_watch(r) and r["status"] == 200][-1]
    # It resumed from before the write: the server replayed the change it had missed.
    assert int(resumed["params"]["resourceVersion"]) < int(written["metadata"]["resourceVersion"])


async def test_a_compacted_history_is_listed_again(world: World, namespace_name: str) -> None:
    path = await _namespace(world, namespace_name)
    await _put(world, path, "a", "1")
    await _put(world, path, "gone", "1")
    _, since = await world.requests_since(0)
    async with Follower(world, path, timeout_seconds=1) as follower:
        await follower.until(lambda s: _values(s) == {"a": "1", "gone": "1"})
        await world.inject(kind="drop", path=path, method="GET")
        await _until_dropped(world, since, path, 1)
        written = await _put(world, path, "a", "2")
        await world.cluster.request("DELETE", f"{path}/gone")
        async with world.admin() as http:
            answer = await http.post("/_sim/compact")
        assert answer.json()["oldest"] > int(written["metadata"]["resourceVersion"])
        await _clear_faults(world)
        found = await follower.until(lambda s: _values(s) == {"a": "2"})
    assert found["a"]["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]
    requests = [r for r in await _requests(world, since, path) if r["status"] != 0]
    kinds = ["watch" if _is_watch(r) else "list" for r in requests]
    # list, watch (ended by its timeout), watch from the old version (410 Expired), list again.
    assert kinds[:2] == ["list", "watch"] and kinds.count("list") == 2
    expired = requests[kinds.index("list", 1) - 1]
    assert int(expired["params"]["resourceVersion"]) < int(written["metadata"]["resourceVersion"])
    # The drops were reported; the 410 is no error, only a reason to list again.
    assert follower.errors and all("dropped" in str(e) for e in follower.errors)


@pytest.mark.parametrize(
    ("fault", "status"),
    [({"kind": "refuse-watch"}, 200), ({"kind": "refuse-watch", "status": 410}, 410)],
    ids=["error-event", "410-answer"],
)
async def test_a_410_lists_again(
    world: World, namespace_name: str, fault: dict[str, Any], status: int
) -> None:
    path = await _namespace(world, namespace_name)
    await _put(world, path, "a", "1")
    _, since = await world.requests_since(0)
    await world.inject(**fault, count=1, path=path)
    async with Follower(world, path) as follower:
        await follower.until(lambda s: "a" in s)
        for _ in range(100):  # until the second watch is open
            if len(await _requests(world, since, path)) >= 4:
                break
            await asyncio.sleep(0.05)
        await _put(world, path, "b", "1")
        await follower.until(lambda s: _values(s) == {"a": "1", "b": "1"})
    requests = await _requests(world, since, path)
    assert [(_is_watch(r), r["status"]) for r in requests] == [
        (False, 200),
        (True, status),
        (False, 200),
        (True, 200),
    ]
    assert not follower.errors


async def test_another_watch_error_resumes_from_the_same_version(
    world: World, namespace_name: str
) -> None:
    path = await _namespace(world, namespace_name)
    await _put(world, path, "a", "1")
    _, since = await world.requests_since(0)
    await world.inject(kind="refuse-watch", status=500, count=2, path=path)
    async with Follower(world, path) as follower:
        await follower.until(lambda s: "a" in s)
        await _put(world, path, "a", "2")
        await follower.until(lambda s: _values(s) == {"a": "2"})
    requests = await _requests(world, since, path)
    assert [(_is_watch(r), r["status"]) for r in requests] == [
        (False, 200),
        (True, 500),
        (True, 500),
        (True, 200),
    ]
    assert len({r["params"]["resourceVersion"] for r in requests[1:]}) == 1
    assert len(follower.errors) == 2 and "500" in str(follower.errors[0])


async def test_a_permanent_error_ends_the_watch(world: World, namespace_name: str) -> None:
    path = await _namespace(world, namespace_name)
    await world.inject(kind="status", status=403, count=1, path=path)
    watch = watch_objects(world.cluster, path)
    with pytest.raises(PermanentError, match="forbidden"):
        await anext(watch)
