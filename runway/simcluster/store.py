"""In-memory storage: objects per resource, one global resourceVersion, a bounded change history.

Stored objects are never mutated after they are written: every write stores a new dict, so the
history and open watches can hold references without copying.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from dataclasses import dataclass

from runway.simcluster.errors import Object

Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


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


class Subscription:
    """The changes of one resource, queued for one watch."""

    # A watcher this far behind is closed, as a real server closes unresponsive watchers; the
    # client watches again from the last resourceVersion it saw.
    BACKLOG = 10_000

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.closed = False

    def push(self, change: Change) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.BACKLOG:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.close()
            return
        self.queue.put_nowait(change)

    def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)


class Store:
    """Objects by resource and key, with the history watches resume from."""

    def __init__(self, history: int = 5000) -> None:
        self.rv = 0
        self._objects: dict[str, dict[Key, Object]] = {}
        self._keys: dict[str, list[Key]] = {}
        self._history: deque[Change] = deque(maxlen=max(history, 1))
        self._floor = 0
        self._subscriptions: dict[str, set[Subscription]] = {}

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

    def items(self, resource: str, namespace: str | None = None) -> list[Object]:
        """Objects in key order (namespace, then name), like etcd lists them."""
        objects = self._objects.get(resource, {})
        return [objects[k] for k in self._range(resource, namespace)]

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
        self._record(Change(self.rv, "DELETED", resource, final, prev))
        return final

    def _record(self, change: Change) -> None:
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(change)
        for subscription in self._subscriptions.get(change.resource, ()):
            subscription.push(change)

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

    def subscribe(self, resource: str) -> Subscription:
        subscription = Subscription(resource)
        self._subscriptions.setdefault(resource, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.get(subscription.resource, set()).discard(subscription)

    def close_all(self) -> None:
        """End every open watch (the server is stopping)."""
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.close()
        self._subscriptions.clear()
