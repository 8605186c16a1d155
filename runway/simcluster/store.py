"""In-memory storage: objects per resource, one global resourceVersion, a bounded change history.

Stored objects are never mutated after they are written: every write stores a new dict, so the
history and open watches can hold references without copying, and a new state may share what
did not change with the one before (copy on write).

Beside the objects the store keeps what would otherwise take a pass over a whole namespace per
write: objects by controller (`owned`), by label (`candidates`), watches by the label or name
they select (`subscribe_view`), and whatever its `observers` keep (quota usage).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from runway.simcluster.errors import Object

log = logging.getLogger("runway.simcluster")

Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects
T = TypeVar("T")
Hint = tuple[str, ...]  # ("label", key, value) or ("name", name): see Subscription


@dataclass(frozen=True, slots=True)
class Change:
    """One write as watches see it; `obj` is the new state (for DELETED, the last one)."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: str
    obj: Object
    prev: Object | None


class TooOld(Exception):
    """The history no longer reaches back to the resourceVersion asked for."""

    def __init__(self, asked: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {asked} ({oldest})")
        self.asked = asked
        self.oldest = oldest


class Subscription(Generic[T]):
    """The changes of one resource, as one reader sees them, queued for it.

    `view` turns a change into what the reader wants (a watch's event through its namespace and
    selectors), or None when the reader does not want it. It runs when the change is written,
    so a change nobody wants wakes nobody: with a hundred open watches on pods, a pod's change
    queues one event, not a hundred, and no reader wakes only to throw one away. A `hint` says
    more: the view wants only changes of objects labelled `("label", key, value)` or named
    `("name", name)` (before or after the change), and the store shows it no others.
    """

    # A watcher this far behind is closed, as a real server closes unresponsive watchers; the
    # client watches again from the last resourceVersion it saw.
    BACKLOG = 10_000

    def __init__(
        self, resource: str, view: Callable[[Change], T | None], hint: Hint | None = None
    ) -> None:
        self.resource = resource
        self.view = view
        self.hint = hint
        self.closed = False
        self._pending: deque[T | None] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def push(self, change: Change) -> None:
        if self.closed:
            return
        try:
            item = self.view(change)
        except Exception:  # the reader's mistake ends its queue, not the write
            log.exception("runway-sim (simulated): a watch failed on a change of %s", self.resource)
            self.close()
            return
        if item is None:
            return
        if len(self._pending) >= self.BACKLOG:
            self._pending.clear()
            self.close()
            return
        self._pending.append(item)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._pending.append(None)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout: float | None = None) -> T | None:
        """The next item (None once closed); raises TimeoutError after `timeout` seconds.

        One future per wait, woken by `push` or a timer: cheaper than `asyncio.wait_for` (a new
        task per call before Python 3.12), and no wait at all while items are queued."""
        if not self._pending:
            await self._wait(timeout)
        return self._pending.popleft()

    def ready(self) -> list[T | None]:
        """The items queued now (None last, once closed), taken without waiting."""
        items = list(self._pending)
        self._pending.clear()
        if None in items:  # closed: nothing after it counts, and later reads see it again
            items = items[: items.index(None)]
            self._pending.append(None)
            items.append(None)
        return items

    async def _wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(max(timeout, 0.0), _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        if not self._pending:
            raise TimeoutError


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Subscribers:
    """The subscriptions to one resource, those with a hint filed under it: a change goes to
    those without one and to those whose hint the object has (before or after the change)."""

    def __init__(self) -> None:
        self._plain: set[Subscription[Any]] = set()
        self._hinted: dict[Hint, set[Subscription[Any]]] = {}

    def add(self, subscription: Subscription[Any]) -> None:
        if subscription.hint is None:
            self._plain.add(subscription)
        else:
            self._hinted.setdefault(subscription.hint, set()).add(subscription)

    def discard(self, subscription: Subscription[Any]) -> None:
        if subscription.hint is None:
            self._plain.discard(subscription)
            return
        hinted = self._hinted.get(subscription.hint)
        if hinted is not None:
            hinted.discard(subscription)
            if not hinted:
                del self._hinted[subscription.hint]

    def all(self) -> list[Subscription[Any]]:
        return [*self._plain, *(s for hinted in self._hinted.values() for s in hinted)]

    def push(self, change: Change) -> None:
        for subscription in self._plain:
            subscription.push(change)
        if not self._hinted:
            return
        hints: set[Hint] = {("name", change.obj["metadata"].get("name"))}
        for obj in (change.obj, change.prev):
            hints.update(("label", k, v) for k, v in _labels(obj).items())
        for hint in hints:
            for subscription in self._hinted.get(hint, ()):
                subscription.push(change)


def _labels(obj: Object | None) -> dict[str, str]:
    """An object's labels (those with string values: no selector matches another)."""
    labels = None if obj is None else obj["metadata"].get("labels")
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(v, str)}


def _controller_uid(obj: Object | None) -> str | None:
    """The uid in the first ownerReference marked `controller: true`, if any."""
    if obj is None:
        return None
    for reference in obj["metadata"].get("ownerReferences") or ():
        if isinstance(reference, dict) and reference.get("controller") is True:
            uid = reference.get("uid")
            return uid if isinstance(uid, str) else None
    return None


def _itself(change: Change) -> Change:
    return change


class Store:
    """Objects by resource and key, with the history watches resume from."""

    def __init__(self, history: int = 5000) -> None:
        self.rv = 0
        self._objects: dict[str, dict[Key, Object]] = {}
        self._keys: dict[str, list[Key]] = {}
        self._history: deque[Change] = deque(maxlen=max(history, 1))
        self._floor = 0
        self._subscriptions: dict[str, _Subscribers] = {}
        self._owned: dict[tuple[str, str, str], dict[Key, Object]] = {}
        self._labelled: dict[tuple[str, str, str], set[Key]] = {}  # (resource, label, value)
        self.observers: list[Callable[[str, Object | None, Object | None], None]] = []
        """Called with (resource, old, new) at every write (new None: removed), before any
        watch hears of it: what keeps running sums (quota usage) current without recounting."""

    @property
    def oldest(self) -> int:
        """The oldest resourceVersion a watch or a consistent list can still start from."""
        return self._floor

    def compact(self) -> None:
        """Forget the history so far, as etcd compaction does (watches must start from now)."""
        self._history.clear()
        self._floor = self.rv

    def get(self, resource: str, namespace: str, name: str) -> Object | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def count(self, resource: str) -> int:
        return len(self._objects.get(resource, {}))

    def count_in(self, resource: str, namespace: str) -> int:
        """How many objects of `resource` a namespace holds, without listing them."""
        keys = self._keys.get(resource, [])
        low = bisect.bisect_left(keys, (namespace, ""))
        return bisect.bisect_left(keys, (namespace + "\x00", "")) - low

    def items(self, resource: str, namespace: str | None = None) -> list[Object]:
        """Objects in key order (namespace, then name), like etcd lists them."""
        objects = self._objects.get(resource, {})
        return [objects[k] for k in self._range(resource, namespace)]

    def candidates(
        self,
        resource: str,
        namespace: str | None,
        label: tuple[str, str] | None = None,
        name: str | None = None,
    ) -> list[Object]:
        """In key order, the objects that may have the `label` (key, value) and the `name`
        (None: any): every one that has them, perhaps others. What a selected list goes
        through, rather than every object of the namespace."""
        if name is not None and namespace is not None:
            found = self.get(resource, namespace, name)
            return [] if found is None else [found]
        if label is None:
            return self.items(resource, namespace)
        objects = self._objects.get(resource, {})
        keys = self._labelled.get((resource, *label), set())
        return [objects[k] for k in sorted(keys) if namespace is None or k[0] == namespace]

    def owned(self, resource: str, namespace: str, uid: str) -> list[Object]:
        """The objects of `resource` in a namespace whose controller (the ownerReference marked
        `controller: true`) has `uid`, in key order: what a controller reconciling its pods or
        ReplicaSets reads, without going through every one in the namespace."""
        found = self._owned.get((resource, namespace, uid), {})
        return [found[k] for k in sorted(found)]

    def keys(self, resource: str, namespace: str | None = None) -> list[Key]:
        return self._range(resource, namespace)

    def _range(self, resource: str, namespace: str | None) -> list[Key]:
        keys = self._keys.get(resource, [])
        if namespace is None:
            return list(keys)
        low = bisect.bisect_left(keys, (namespace, ""))
        high = bisect.bisect_left(keys, (namespace + "\x00", ""))
        return keys[low:high]

    def put(self, resource: str, obj: Object) -> Object:
        """Store a new object or a new state of one; stamps and returns it with a new version."""
        metadata = obj["metadata"]
        key = (metadata.get("namespace", ""), metadata["name"])
        objects = self._objects.setdefault(resource, {})
        prev = objects.get(key)
        self.rv += 1
        metadata["resourceVersion"] = str(self.rv)
        objects[key] = obj
        if prev is None:
            bisect.insort(self._keys.setdefault(resource, []), key)
        self._index_owner(resource, key, prev, obj)
        self._index_labels(resource, key, prev, obj)
        for observer in self.observers:
            observer(resource, prev, obj)
        self._record(Change(self.rv, "MODIFIED" if prev else "ADDED", resource, obj, prev))
        return obj

    def remove(self, resource: str, namespace: str, name: str) -> Object:
        """Delete an object; the DELETED state carries the deletion's resourceVersion."""
        objects = self._objects[resource]
        prev = objects.pop((namespace, name))
        keys = self._keys[resource]
        del keys[bisect.bisect_left(keys, (namespace, name))]
        self.rv += 1
        final = {**prev, "metadata": {**prev["metadata"], "resourceVersion": str(self.rv)}}
        self._index_owner(resource, (namespace, name), prev, None)
        self._index_labels(resource, (namespace, name), prev, None)
        for observer in self.observers:
            observer(resource, prev, None)
        self._record(Change(self.rv, "DELETED", resource, final, prev))
        return final

    def _index_owner(self, resource: str, key: Key, old: Object | None, new: Object | None) -> None:
        before, after = _controller_uid(old), _controller_uid(new)
        if before is not None and before != after:
            owned = self._owned[(resource, key[0], before)]
            del owned[key]
            if not owned:
                del self._owned[(resource, key[0], before)]
        if after is not None and new is not None:
            self._owned.setdefault((resource, key[0], after), {})[key] = new

    def _index_labels(
        self, resource: str, key: Key, old: Object | None, new: Object | None
    ) -> None:
        before, after = _labels(old), _labels(new)
        if before == after:
            return
        for label in before.items() - after.items():
            keys = self._labelled[(resource, *label)]
            keys.discard(key)
            if not keys:
                del self._labelled[(resource, *label)]
        for label in after.items() - before.items():
            self._labelled.setdefault((resource, *label), set()).add(key)

    def _record(self, change: Change) -> None:
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(change)
        subscribers = self._subscriptions.get(change.resource)
        if subscribers is not None:
            subscribers.push(change)

    def changes_since(self, rv: int, resource: str) -> list[Change]:
        """Changes of a resource after rv, oldest first; TooOld when history does not reach rv."""
        if rv < self._floor:
            raise TooOld(rv, self._floor)
        found: list[Change] = []
        for change in reversed(self._history):
            if change.rv <= rv:
                break
            if change.resource == resource:
                found.append(change)
        found.reverse()
        return found

    def snapshot(self, resource: str, rv: int, namespace: str | None) -> list[Object]:
        """The objects as they were at rv, in key order; TooOld when that is out of history."""
        if rv >= self.rv:
            return self.items(resource, namespace)
        if rv < self._floor:
            raise TooOld(rv, self._floor)
        state = dict(self._objects.get(resource, {}))
        for change in reversed(self._history):
            if change.rv <= rv:
                break
            if change.resource != resource:
                continue
            meta = change.obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            if change.prev is None:
                state.pop(key, None)
            else:
                state[key] = change.prev
        keys = sorted(k for k in state if namespace is None or k[0] == namespace)
        return [state[k] for k in keys]

    def subscribe(self, resource: str) -> Subscription[Change]:
        """Every change of `resource` from now on, queued."""
        return self.subscribe_view(resource, _itself)

    def subscribe_view(
        self,
        resource: str,
        view: Callable[[Change], T | None],
        hint: Hint | None = None,
    ) -> Subscription[T]:
        """The changes of `resource` from now on as `view` sees them (see Subscription). With a
        `hint` (a label or a name, see Subscription) only the changes of objects that have it,
        before or after, are shown to `view`: it must see nothing in the others."""
        subscription = Subscription(resource, view, hint)
        self._subscriptions.setdefault(resource, _Subscribers()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription[Any]) -> None:
        subscribers = self._subscriptions.get(subscription.resource)
        if subscribers is not None:
            subscribers.discard(subscription)

    def close_all(self) -> None:
        """End every open watch (the server is stopping)."""
        for subscribers in self._subscriptions.values():
            for subscription in subscribers.all():
                subscription.close()
        self._subscriptions.clear()
