"""Watches: chunked JSON lines of ADDED/MODIFIED/DELETED, resumable, with bookmarks and 410s.

Everything a watch needs from the store is taken synchronously when it is opened (subscription,
then history or current state, with no await in between), so no write can fall in a gap.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from runway.simcluster.bodies import query_bool, query_int
from runway.simcluster.catalogue import ResourceType
from runway.simcluster.errors import BadRequest, Expired, Object
from runway.simcluster.listing import Selection, selection
from runway.simcluster.store import Change, Hint, Store, Subscription, TooOld

Event = tuple[str, Object]

# A real server ends a watch without timeoutSeconds after a random 30 to 60 minutes.
_DEFAULT_TIMEOUT = (1800, 3600)
# It sends the last bookmark of a watch with a deadline this long before the deadline.
_PRE_TIMEOUT = 2.0


@dataclass
class Watch:
    """One open watch: what to send first, then what to wait for."""

    rt: ResourceType
    store: Store
    namespace: str | None
    select: Selection
    subscription: Subscription[Event]
    first: list[Event]
    error: Object | None
    timeout: float
    bookmarks: bool
    initial_end: bool
    bookmark_interval: float

    async def lines(self) -> AsyncIterator[bytes]:
        """The response body: one JSON event per line until the timeout or the server stops."""
        loop = asyncio.get_running_loop()
        try:
            if self.error is not None:
                yield _line("ERROR", self.error)
                return
            for kind, obj in self.first:
                yield _line(kind, obj)
            if self.initial_end:
                yield self._bookmark(initial_end=True)
            start = loop.time()
            deadline = start + self.timeout
            next_bookmark = self._next_bookmark(start, deadline, start)
            while True:
                now = loop.time()
                if now >= deadline:
                    return
                if next_bookmark is not None and now >= next_bookmark:
                    yield self._bookmark()
                    next_bookmark = self._next_bookmark(now, deadline, now)
                    continue
                wake = deadline if next_bookmark is None else min(deadline, next_bookmark)
                try:
                    event = await self.subscription.get(wake - now)
                except TimeoutError:
                    continue
                if event is None:
                    return
                # What else is queued already goes out in the same chunk: a burst of changes
                # (fifty pods made at once) is one write to the socket, not one per event.
                lines = [_line(*event)]
                for more in self.subscription.ready():
                    if more is None:
                        yield b"".join(lines)
                        return
                    lines.append(_line(*more))
                yield b"".join(lines)
        finally:
            self.store.unsubscribe(self.subscription)

    def _next_bookmark(self, start: float, deadline: float, now: float) -> float | None:
        if not self.bookmarks:
            return None
        moment = min(start + self.bookmark_interval, deadline - _PRE_TIMEOUT)
        return moment if moment > now else None

    def _bookmark(self, *, initial_end: bool = False) -> bytes:
        metadata: Object = {"resourceVersion": str(self.store.rv)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": metadata}
        return _line("BOOKMARK", obj)


def event_for(change: Change, namespace: str | None, select: Selection) -> Event | None:
    """How a change looks through a watch's namespace and selectors.

    An object that starts matching is ADDED, one that stops matching is DELETED, as the real
    watch cache reports them.
    """
    obj = change.obj
    if namespace is not None and obj["metadata"].get("namespace", "") != namespace:
        return None
    if select.everything:
        return change.type, obj
    if change.type == "ADDED":
        return ("ADDED", obj) if select(obj) else None
    if change.type == "DELETED":
        return ("DELETED", obj) if change.prev is not None and select(change.prev) else None
    now, was = select(obj), change.prev is not None and select(change.prev)
    if now and was:
        return "MODIFIED", obj
    if now:
        return "ADDED", obj
    return ("DELETED", obj) if was else None


def _view(namespace: str | None, select: Selection, change: Change) -> Event | None:
    return event_for(change, namespace, select)


def _hint(select: Selection) -> Hint | None:
    """What every object the watch can be sent has (see Subscription): its name, a label."""
    if select.name is not None:
        return ("name", select.name)
    if select.label is not None:
        return ("label", *select.label)
    return None


def open_watch(
    store: Store,
    rt: ResourceType,
    namespace: str | None,
    params: Mapping[str, str],
    bookmark_interval: float,
) -> Watch:
    """Check a watch request and take its starting point (raises BadRequest before streaming)."""
    select = selection(rt, params)
    timeout = query_int(params, "timeoutSeconds")
    bookmarks = query_bool(params, "allowWatchBookmarks")
    send_initial = (
        query_bool(params, "sendInitialEvents") if "sendInitialEvents" in params else None
    )
    requested = params.get("resourceVersion") or ""
    if send_initial and not bookmarks:
        raise BadRequest("sendInitialEvents is forbidden for watch unless allowWatchBookmarks=true")
    # Changes are seen through the watch's namespace and selectors as they are written: only
    # the events it sends are queued for it.
    view = functools.partial(_view, namespace, select)
    subscription = store.subscribe_view(rt.key, view, _hint(select))
    first: list[Event] = []
    error: Object | None = None
    if requested in ("", "0") or send_initial:
        objects = store.candidates(rt.key, namespace, select.label, select.name)
        first = [("ADDED", obj) for obj in objects if select(obj)]
    else:
        try:
            version = int(requested)
        except ValueError:
            store.unsubscribe(subscription)
            raise BadRequest(f"invalid resource version: {requested}") from None
        try:
            changes = store.changes_since(version, rt.key) if version <= store.rv else []
        except TooOld as too_old:
            error = Expired(str(too_old)).status()
            changes = []
        first = [e for e in (event_for(c, namespace, select) for c in changes) if e is not None]
    return Watch(
        rt=rt,
        store=store,
        namespace=namespace,
        select=select,
        subscription=subscription,
        first=first,
        error=error,
        timeout=float(timeout) if timeout else float(random.randint(*_DEFAULT_TIMEOUT)),
        bookmarks=bookmarks,
        initial_end=bool(send_initial),
        bookmark_interval=bookmark_interval,
    )


def _line(kind: str, obj: Object) -> bytes:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return f'{{"type":"{kind}","object":{body}}}\n'.encode()
