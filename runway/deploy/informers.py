"""Shared watches: one list and one open watch per collection (the pods of a namespace, its
ReplicaSets, its Deployments), however many readiness waits read it at once.

A deployment of fifty services waits for fifty workloads in one namespace at the same time.
With a watch per wait and per collection that was 150 lists and 150 open watches, each event
sent to and decoded by every one of them; shared, the cluster sends each change once and runway
decodes it once. This is client-go's shared informer (kopf and Argo CD watch the same way).

An informer starts with its first reader and stops LINGER seconds after its last one left, so
the steps of a deployment that follow each other reuse it. What it holds may be a moment
behind the cluster: a reader that needs to see its own write compares the object's uid and
generation with what the write answered (runway.deploy.readiness does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from runway.deploy.errors import TemporaryError
from runway.deploy.watch import Changed, Listed, Snapshot, watch_changes

if TYPE_CHECKING:  # a Cluster holds its Informers
    from runway.deploy.connection import Cluster

K = TypeVar("K")

HELD_BACK = 0.1
"""Seconds between looks at whether a held-back informer's readers may act again."""

LINGER = 30.0
"""Seconds an informer keeps watching after its last reader left."""
WATCH_SECONDS = 60
"""The `timeoutSeconds` of an informer's watch: opened again every minute, so a connection that
died without a word (an idle load balancer) is noticed within a minute and a half."""


@dataclass(eq=False)
class Informer:
    """The objects of one collection as last seen, indexed by label, and who to wake when
    they change."""

    path: str
    objects: Snapshot | None = None
    """By name; None until the first list answered. Shared: never change them."""
    _by_label: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _labels_of: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    """Each object's labels as pairs, read once when it came."""
    error: TemporaryError | None = None
    """The last temporary error (the watch retries), cleared by the next change."""
    failure: Exception | None = None
    """Why the watch gave up (a PermanentError): readers raise it."""
    readers: dict[asyncio.Event, Interest | None] = field(default_factory=dict)
    _valid: dict[asyncio.Event, Callable[[], bool]] = field(default_factory=dict)
    _by_name: dict[str, set[asyncio.Event]] = field(default_factory=dict)
    _by_labels: dict[frozenset[tuple[str, str]], set[asyncio.Event]] = field(default_factory=dict)
    _selectors: dict[tuple[str, str], set[frozenset[tuple[str, str]]]] = field(default_factory=dict)
    """The selectors of `_by_labels`, each filed under one of its pairs (the one fewest others
    were filed under): a change looks only at those filed under the labels it has."""
    _anything: set[asyncio.Event] = field(default_factory=set)
    count: int = 0
    task: asyncio.Task[None] | None = None
    idle: asyncio.TimerHandle | None = None
    fresh: bool = False
    """Whether what it holds has followed the cluster, change by change, since it last listed
    the collection: not after a temporary error (the watch resumes, but events may have been
    lost), an expired history (until listed again), or a time held back (the watch was not
    open). runway.deploy.apply trusts only a fresh informer to say who owns an object."""

    def may_request(self) -> bool:
        """Whether a reader may still act on the cluster: one without a say, or one whose
        `valid` says so (a deployment's run whose lease is surely held)."""
        return any(changed not in self._valid or self._valid[changed]() for changed in self.readers)

    def add_reader(
        self,
        changed: asyncio.Event,
        interest: Interest | None,
        valid: Callable[[], bool] | None = None,
    ) -> None:
        self.readers[changed] = interest
        if valid is not None:
            self._valid[changed] = valid
        if interest is None:
            self._anything.add(changed)
        elif interest.name is not None:
            self._by_name.setdefault(interest.name, set()).add(changed)
        else:
            readers = self._by_labels.get(interest.labels)
            if readers is None:
                readers = self._by_labels[interest.labels] = set()
                self._file(interest.labels)
            readers.add(changed)

    def _file(self, selector: frozenset[tuple[str, str]]) -> None:
        if not selector:
            self._selectors.setdefault(_EVERY, set()).add(selector)
            return
        pair = min(sorted(selector), key=lambda p: len(self._selectors.get(p, ())))
        self._selectors.setdefault(pair, set()).add(selector)

    def _unfile(self, selector: frozenset[tuple[str, str]]) -> None:
        for pair in (*selector, _EVERY):
            filed = self._selectors.get(pair)
            if filed is not None and selector in filed:
                filed.discard(selector)
                if not filed:
                    del self._selectors[pair]
                return

    def remove_reader(self, changed: asyncio.Event) -> None:
        interest = self.readers.pop(changed, None)
        self._valid.pop(changed, None)
        self._anything.discard(changed)
        if interest is None:
            return
        if interest.name is not None:
            _discard(self._by_name, interest.name, changed)
        else:
            _discard(self._by_labels, interest.labels, changed)
            if interest.labels not in self._by_labels:
                self._unfile(interest.labels)

    def wake(self, *changed: dict[str, Any] | None) -> None:
        """Wake the readers interested in any of the `changed` objects (all of them when none
        is given: a list, an error). Readers are found by name, and by the set of labels they
        want (a subset test per selector filed under one of the object's labels), not by
        asking each one."""
        if not changed:
            for event in self.readers:
                event.set()
            return
        woken: set[asyncio.Event] = set(self._anything)
        for obj in changed:
            if obj is None:
                continue
            meta = obj.get("metadata") or {}
            woken.update(self._by_name.get(str(meta.get("name") or ""), ()))
            if not self._by_labels:
                continue
            have = _pairs(obj)
            for pair in (*have, _EVERY):
                for wanted in self._selectors.get(pair, ()):
                    if wanted <= have:
                        woken.update(self._by_labels[wanted])
        for event in woken:
            event.set()

    def get(self, name: str) -> dict[str, Any] | None:
        return None if self.objects is None else self.objects.get(name)

    def select(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """The objects whose labels include all of `labels` (equality, as `matchLabels`), found
        through the index: a wait among a thousand pods reads only its own."""
        if self.objects is None:
            return []
        if not labels:
            return [self.objects[name] for name in sorted(self.objects)]
        sets = sorted((self._by_label.get(pair, set()) for pair in labels.items()), key=len)
        names = set.intersection(*sets)
        return [self.objects[name] for name in sorted(names)]

    def apply(self, change: Listed | Changed) -> dict[str, Any] | None:
        """Take a list or a change into the objects and the index; the object a change
        replaced or deleted (None for a list)."""
        if isinstance(change, Listed):
            self.objects = {}
            self._by_label = {}
            self._labels_of = {}
            for name, obj in change.objects.items():
                self._put(name, obj)
            return None
        if self.objects is None:
            self.objects = {}
        name = change.name
        old = self.objects.get(name)
        had = self._labels_of.get(name, frozenset())
        if change.type == "DELETED":
            self._forget(name)
            return old
        obj = change.object
        self.objects[name] = obj
        have = _pairs(obj)
        if have != had:  # most changes (a status) keep the labels: the index stays as it is
            self._forget(name)
            self._put(name, obj, have)
        return old

    def _put(
        self, name: str, obj: dict[str, Any], pairs: frozenset[tuple[str, str]] | None = None
    ) -> None:
        assert self.objects is not None
        self.objects[name] = obj
        pairs = _pairs(obj) if pairs is None else pairs
        self._labels_of[name] = pairs
        for pair in pairs:
            self._by_label.setdefault(pair, set()).add(name)

    def _forget(self, name: str) -> None:
        assert self.objects is not None
        self.objects.pop(name, None)
        for pair in self._labels_of.pop(name, ()):
            names = self._by_label.get(pair)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_label[pair]


@dataclass(frozen=True, slots=True)
class Interest:
    """Which objects a reader cares about (it is woken only by changes to those): the one
    called `name`, or those carrying all of `labels`."""

    name: str | None = None
    labels: frozenset[tuple[str, str]] = frozenset()


def named(name: str) -> Interest:
    """An interest in the object called `name`."""
    return Interest(name=name)


def labelled(labels: Mapping[str, str]) -> Interest:
    """An interest in the objects carrying all of `labels`."""
    return Interest(labels=frozenset((str(k), str(v)) for k, v in labels.items()))


class _Idle(Exception):
    """An informer with no reader was about to ask the cluster again: it stops instead."""


def _discard(index: dict[K, set[asyncio.Event]], key: K, event: asyncio.Event) -> None:
    events = index.get(key)
    if events is not None:
        events.discard(event)
        if not events:
            del index[key]


_EVERY = ("", "")
"""Where the selector of no labels is filed (it matches every object)."""


def _pairs(obj: dict[str, Any]) -> frozenset[tuple[str, str]]:
    found = (obj.get("metadata") or {}).get("labels") or {}
    return frozenset((str(key), str(value)) for key, value in found.items())


class Informers:
    """The shared watches of one cluster. Close it (or the cluster) to stop them all."""

    def __init__(self, cluster: Cluster, *, linger: float = LINGER) -> None:
        self.cluster = cluster
        self.linger = linger
        self._informers: dict[str, Informer] = {}

    @contextlib.asynccontextmanager
    async def read(
        self,
        path: str,
        changed: asyncio.Event,
        interest: Interest | None = None,
        valid: Callable[[], bool] | None = None,
    ) -> AsyncIterator[Informer]:
        """The informer of the collection at `path`, started if it is not running; `changed`
        is set whenever what it holds changes (only the objects of `interest`, when given), it
        lists again, or an error is heard, until the block ends. While every reader's `valid`
        says no (an instance paused past its leases), the informer sends the cluster nothing;
        with no reader left it stops rather than open its watch again."""
        informer = self._informers.get(path)
        if informer is None or informer.failure is not None:
            informer = Informer(path)
            self._informers[path] = informer
            informer.task = asyncio.create_task(self._watch(informer))
        if informer.idle is not None:
            informer.idle.cancel()
            informer.idle = None
        informer.count += 1
        informer.add_reader(changed, interest, valid)
        if informer.objects is not None or informer.failure is not None:
            changed.set()
        try:
            yield informer
        finally:
            informer.remove_reader(changed)
            informer.count -= 1
            if informer.count == 0:
                loop = asyncio.get_running_loop()
                informer.idle = loop.call_later(self.linger, self._stop, informer)

    def cached(self, path: str, name: str) -> tuple[bool, dict[str, Any] | None]:
        """Whether the collection at `path` is being watched and its informer is fresh (see
        Informer.fresh), and if so the object called `name` as the watch last showed it (None:
        it has none by that name). Otherwise (False, None), and the caller reads the
        cluster."""
        informer = self._informers.get(path)
        # Fresh only once listed, and no longer after an error; a watch given up (a failure,
        # or idle) has ended its task.
        if informer is None or not informer.fresh or informer.task is None or informer.task.done():
            return False, None
        return True, informer.get(name)

    async def close(self) -> None:
        """Stop every watch."""
        informers = list(self._informers.values())
        self._informers.clear()
        for informer in informers:
            if informer.idle is not None:
                informer.idle.cancel()
            if informer.task is not None:
                informer.task.cancel()
        await asyncio.gather(
            *(i.task for i in informers if i.task is not None), return_exceptions=True
        )

    def _stop(self, informer: Informer) -> None:
        if informer.count == 0 and self._informers.get(informer.path) is informer:
            del self._informers[informer.path]
            if informer.task is not None:
                informer.task.cancel()

    async def _watch(self, informer: Informer) -> None:
        def heard(error: TemporaryError) -> None:
            informer.error = error
            informer.fresh = False  # events may have been missed: trusted again once listed
            informer.wake()

        async def before_request(listing: bool) -> None:
            if listing:
                informer.fresh = False  # the history is gone, or this is the first list
            while not informer.may_request():
                if not informer.readers:
                    if self._informers.get(informer.path) is informer:
                        del self._informers[informer.path]  # a new reader starts a new one
                    raise _Idle
                informer.fresh = False  # its watch is not open: what it holds grows old
                await asyncio.sleep(HELD_BACK)

        watch = watch_changes(
            self.cluster,
            informer.path,
            timeout_seconds=WATCH_SECONDS,
            on_error=heard,
            before_request=before_request,
        )
        try:
            async with contextlib.aclosing(watch) as changes:
                async for change in changes:
                    old = informer.apply(change)
                    informer.error = None
                    if isinstance(change, Listed):
                        informer.fresh = True
                        informer.wake()
                    else:
                        informer.wake(change.object, old)
        except asyncio.CancelledError:
            raise
        except _Idle:  # lingering unread: no reason to open the watch again
            pass
        except Exception as error:  # a PermanentError (or a bug): its readers raise it
            informer.failure = error
            informer.wake()
            if self._informers.get(informer.path) is informer:
                del self._informers[informer.path]
