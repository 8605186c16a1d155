"""List-then-watch: the objects of one collection, kept current by a watch that survives drops.

`watch_changes` does what client-go's reflector and kopf's watcher do, in small: it lists the
collection (GET), yields its objects by name (`Listed`), then watches from the list's
resourceVersion (`watch=true`, `allowWatchBookmarks=true`, `timeoutSeconds`) and yields every
ADDED, MODIFIED and DELETED event (`Changed`). A BOOKMARK only moves the resourceVersion.
`watch_objects` applies them and yields each new snapshot.

When the server ends the watch (its `timeoutSeconds`) the watch is opened again at once from the
last resourceVersion seen; when the connection drops or the cluster fails for a moment (a
TemporaryError) it is opened again from there after a short, growing back-off. Either way no
event is lost: the server replays what happened since that resourceVersion. When the server no
longer has that history (an `ERROR` event with code 410 `Expired`, or a 410 answer to the watch
request: FACTS.md, Watches) the collection is listed again, which yields its current state; any
other `ERROR` event lists again too, after the back-off. It gives up only on a PermanentError
(raised to the caller) or when the caller stops iterating.

Objects are keyed by `metadata.name`: watch one namespace's collection or a cluster-scoped one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runway.deploy.errors import Gone, TemporaryError

if TYPE_CHECKING:  # the cluster's informers watch through this module
    from runway.deploy.connection import Cluster

Snapshot = dict[str, dict[str, Any]]
"""The objects of a collection by name, as last seen."""


@dataclass(frozen=True, slots=True)
class Listed:
    """The collection as listed: every object by name (what was known before is replaced)."""

    objects: Snapshot


@dataclass(frozen=True, slots=True)
class Changed:
    """One watch event: `type` is ADDED, MODIFIED or DELETED."""

    type: str
    object: dict[str, Any]

    @property
    def name(self) -> str:
        return _name(self.object)


WATCH_TIMEOUT = 300
"""Seconds the server keeps one watch open (`timeoutSeconds`) before the watcher opens another.
A dead connection that sends nothing goes unnoticed for at most this plus `_READ_MARGIN`."""

_READ_MARGIN = 30.0
"""Seconds of silence past `timeoutSeconds` after which the connection counts as dropped."""

_SHORT_WATCH = 1.0
"""A watch that ends by itself sooner than this, without an event, counts as a failure (backed
off), so that a server that ends every watch at once is not asked again in a tight loop."""


class _Relist(TemporaryError):
    """An `ERROR` event: the watch cannot continue from its resourceVersion, list again
    (at once when `expired`, the 410 of a compacted history; else after the back-off)."""

    def __init__(self, message: str, *, expired: bool) -> None:
        super().__init__(message, 0.0)
        self.expired = expired


async def watch_objects(
    cluster: Cluster,
    path: str,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout_seconds: int = WATCH_TIMEOUT,
    backoff: float = 0.2,
    max_backoff: float = 5.0,
    on_error: Callable[[TemporaryError], None] | None = None,
) -> AsyncGenerator[Snapshot, None]:
    """The objects of the collection at `path` (e.g. `/api/v1/namespaces/n/pods`) that the
    selectors match, by name: first as listed, then again after every change.

    Each snapshot is a new dict (the objects themselves are shared: do not change them).
    TemporaryErrors are retried for ever, after `backoff` seconds doubling up to `max_backoff`
    (or the error's own delay, such as a Retry-After, if longer); `on_error` hears each one
    first, so a caller can tell why nothing comes. A PermanentError ends the iteration.

    The watch's connection closes when the iteration ends: iterate inside
    `contextlib.aclosing(...)` when you may stop early, so that happens at once."""
    changes = watch_changes(
        cluster,
        path,
        label_selector=label_selector,
        field_selector=field_selector,
        timeout_seconds=timeout_seconds,
        backoff=backoff,
        max_backoff=max_backoff,
        on_error=on_error,
    )
    objects: Snapshot = {}
    async with contextlib.aclosing(changes) as events:
        async for change in events:
            if isinstance(change, Listed):
                objects = dict(change.objects)
            elif change.type == "DELETED":
                objects.pop(change.name, None)
            else:
                objects[change.name] = change.object
            yield dict(objects)


async def watch_changes(
    cluster: Cluster,
    path: str,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout_seconds: int = WATCH_TIMEOUT,
    backoff: float = 0.2,
    max_backoff: float = 5.0,
    on_error: Callable[[TemporaryError], None] | None = None,
    before_request: Callable[[bool], Awaitable[None]] | None = None,
) -> AsyncGenerator[Listed | Changed, None]:
    """What `watch_objects` is made of: the collection as listed (`Listed`, again after
    every list), then each change (`Changed`), for whoever keeps the objects themselves (the
    shared informers, which index them). Errors and closing as `watch_objects`.
    `before_request(listing)` is awaited before each list (`listing` True) and each watch
    request (what it raises ends the iteration): the informers hold requests back there while
    nobody may act, and know from it when what they hold is about to be listed again."""
    selectors: list[tuple[str, str]] = []
    if label_selector:
        selectors.append(("labelSelector", label_selector))
    if field_selector:
        selectors.append(("fieldSelector", field_selector))
    loop = asyncio.get_running_loop()
    version: str | None = None  # None: list (again) before watching
    failures = 0
    while True:
        delay = 0.0
        try:
            if version is None:
                if before_request is not None:
                    await before_request(True)
                listed = await cluster.request("GET", path, query=selectors)
                version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
                yield Listed({_name(item): item for item in listed.get("items") or []})
            query = [
                *selectors,
                ("watch", "true"),
                ("allowWatchBookmarks", "true"),
                ("resourceVersion", version),
                ("timeoutSeconds", str(timeout_seconds)),
            ]
            if before_request is not None:
                await before_request(False)
            opened, events = loop.time(), 0
            async with cluster.stream(
                path, query=query, read_timeout=timeout_seconds + _READ_MARGIN
            ) as lines:
                async for line in lines:
                    event = _event(line)
                    if event is None:
                        continue
                    kind, obj = event
                    version = _version(obj) or version
                    events += 1
                    failures = 0
                    if kind == "BOOKMARK":
                        continue
                    yield Changed(kind, obj)
            if events or loop.time() - opened >= _SHORT_WATCH:
                failures = 0  # the server ended a good watch: open the next one at once
            else:
                failures += 1
                delay = _backoff(backoff, max_backoff, failures)
        except TemporaryError as error:
            failures += 1
            expired = isinstance(error, Gone) or (isinstance(error, _Relist) and error.expired)
            if expired or isinstance(error, _Relist):
                version = None
            if expired and failures == 1:
                delay = 0.0  # the history is gone: list again at once
            else:
                if on_error is not None and not expired:
                    on_error(error)
                delay = max(error.delay, _backoff(backoff, max_backoff, failures))
        if delay > 0:
            await asyncio.sleep(delay)


def _event(line: bytes) -> tuple[str, dict[str, Any]] | None:
    """A watch event's type and object; None for a blank line. `_Relist` for an ERROR event;
    TemporaryError for a line that is not an event (the watch is opened again)."""
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except ValueError:
        raise TemporaryError("the cluster sent a watch event runway cannot read") from None
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        raise TemporaryError("the cluster sent a watch event runway cannot read")
    kind, obj = str(event.get("type") or ""), event["object"]
    if kind == "ERROR":
        message = str(obj.get("message") or "no message")
        raise _Relist(f"the watch ended with an error: {message}", expired=obj.get("code") == 410)
    if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
        raise TemporaryError(f"the cluster sent a watch event of unknown type {kind!r}")
    return kind, obj


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _backoff(base: float, most: float, failures: int) -> float:
    """`base` doubling with each failure in a row, at most `most`, with ±20 % jitter so that
    many watchers do not come back at the same moment."""
    step: float = base * 2.0 ** max(failures - 1, 0)
    return min(most, step) * random.uniform(0.8, 1.2)
