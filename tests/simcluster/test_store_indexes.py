"""What the store keeps up to date as it is written, checked against counting from scratch:
quota usage per namespace (admission and the quota controller read it instead of summing every
pod again), the objects each controller owns, and what each watch is sent."""

from __future__ import annotations

import asyncio
import functools
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runway.simcluster.catalogue import Catalogue
from runway.simcluster.listing import selection
from runway.simcluster.quota import (
    Amount,
    _add,
    _count_key,
    _known,
    _source_of,
    namespace_usage,
    quantity,
    usage,
)
from runway.simcluster.store import Change, Store
from runway.simcluster.watch import _hint, _view, event_for

NAMESPACES = ("a", "b")
NAMES = ("p0", "p1", "p2", "p3")
QUANTITIES = ("0", "100m", "1", "2", "64Mi", "1Gi", "500M", "1024", "2Ki", "-100m", "-1Mi")
RESOURCES = ("cpu", "memory", "storage", "ephemeral-storage")
QUOTA_NAMES = [
    "pods",
    "count/pods",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
    "cpu",
    "memory",
    "requests.storage",
    "persistentvolumeclaims",
    "fast.storageclass.storage.k8s.io/requests.storage",
    "services",
    "services.nodeports",
    "services.loadbalancers",
    "configmaps",
]
SOURCES = (("Pod", "/pods"), ("PersistentVolumeClaim", "/persistentvolumeclaims"))
SOURCES += (("Service", "/services"),)
POD = Catalogue().by_key("/pods")


def recount(store: Store, namespace: str, names: list[str]) -> dict[str, Amount]:
    """Quota usage summed from every object, as admission summed it before it was kept."""
    used: dict[str, Amount] = {}
    computed: dict[str, Amount] = {}
    needed = {_source_of(name) for name in names if _count_key(name) is None}
    for kind, key in SOURCES:
        if kind in needed:
            for obj in store.items(key, namespace):
                for name, value in usage(kind, obj).items():
                    _add(computed, name, value)
    for name in names:
        counted = _count_key(name)
        if counted is not None:
            used[name] = (Fraction(len(store.keys(counted, namespace))), False)
        elif name in computed:
            used[name] = computed[name]
        elif _known(name):
            used[name] = (Fraction(0), False)
    return used


def shown(used: dict[str, Amount]) -> dict[str, tuple[Fraction, str]]:
    """What can be seen of usage: the exact value and how the quota's status writes it."""
    return {name: (value[0], quantity(value)) for name, value in used.items()}


resources = st.dictionaries(st.sampled_from(RESOURCES), st.sampled_from(QUANTITIES), max_size=3)
containers = st.lists(
    st.fixed_dictionaries({"requests": resources, "limits": resources}), min_size=1, max_size=2
)


@st.composite
def objects(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(("Pod", "PersistentVolumeClaim", "Service", "ConfigMap")))
    metadata = {
        "name": draw(st.sampled_from(NAMES)),
        "namespace": draw(st.sampled_from(NAMESPACES)),
    }
    if kind == "Pod":
        spec: dict[str, Any] = {
            "containers": [
                {"name": f"c{i}", "resources": r} for i, r in enumerate(draw(containers))
            ]
        }
        if draw(st.booleans()):
            spec["initContainers"] = [{"name": "init", "resources": draw(containers)[0]}]
        phase = draw(st.sampled_from(("Pending", "Running", "Succeeded", "Failed")))
        obj = {"metadata": metadata, "spec": spec, "status": {"phase": phase}}
        return "/pods", obj
    if kind == "PersistentVolumeClaim":
        spec = {"resources": {"requests": {"storage": draw(st.sampled_from(QUANTITIES))}}}
        if draw(st.booleans()):
            spec["storageClassName"] = "fast"
        return "/persistentvolumeclaims", {"metadata": metadata, "spec": spec}
    if kind == "Service":
        service_type = draw(st.sampled_from(("ClusterIP", "NodePort", "LoadBalancer")))
        ports = [{"port": 80 + i} for i in range(draw(st.integers(0, 2)))]
        return "/services", {"metadata": metadata, "spec": {"type": service_type, "ports": ports}}
    return "/configmaps", {"metadata": metadata, "data": {}}


# Each step writes an object (a new one or a new state), writes a new status (and phase) beside
# the spec it shares with the stored state, as status writes do, or removes one; then perhaps
# reads the usage (the first read starts the running sums: before it, the store is counted from
# scratch).
steps = st.lists(
    st.tuples(
        st.sampled_from(("put", "status", "remove")), objects(), st.integers(0, 7), st.booleans()
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    steps,
    st.lists(st.sampled_from(QUOTA_NAMES), min_size=1, max_size=6, unique=True),
    st.booleans(),
)
def test_kept_quota_usage_is_a_recount(steps, names, kept_from_the_start):
    store = Store()
    if kept_from_the_start:
        namespace_usage(store, "a", names)
    for action, (resource, obj), which, read in steps:
        meta = obj["metadata"]
        keys = store.keys(resource)
        if action == "remove" and keys:
            store.remove(resource, *keys[which % len(keys)])
        elif action == "status" and keys:  # of a stored object, with a phase drawn afresh
            stored = store.get(resource, *keys[which % len(keys)])
            assert stored is not None
            phase = ("Pending", "Running", "Succeeded", "Failed")[which % 4]
            metadata = dict(stored["metadata"])
            store.put(resource, {**stored, "metadata": metadata, "status": {"phase": phase}})
        elif action == "put":
            store.put(resource, {**obj, "metadata": dict(meta)})
        if read:
            for namespace in NAMESPACES:
                assert shown(namespace_usage(store, namespace, names)) == shown(
                    recount(store, namespace, names)
                )
    for namespace in NAMESPACES:
        kept = namespace_usage(store, namespace, names)
        assert shown(kept) == shown(recount(store, namespace, names))
        for name in names:  # and for each resource asked alone (only its kind is summed)
            assert shown(namespace_usage(store, namespace, [name])) == shown(
                recount(store, namespace, [name])
            )


def _pod(name: str, *memory: str) -> dict[str, Any]:
    containers = [
        {"name": f"c{i}", "resources": {"requests": {"memory": m}}} for i, m in enumerate(memory)
    ]
    return {"metadata": {"name": name, "namespace": "a"}, "spec": {"containers": containers}}


def test_usage_is_written_in_the_units_of_the_first_object_that_counts():
    """`1024` then `2Ki` is 3072 bytes written as `3072`; the other way round, `3Ki`: the first
    pod (in name order) with a request decides, as a recount decides."""
    for first, second, written in (("1024", "2Ki", "3072"), ("2Ki", "1024", "3Ki")):
        store = Store()
        namespace_usage(store, "a", ["requests.memory"])  # from here on it is kept
        store.put("/pods", _pod("p1", second))
        store.put("/pods", _pod("p0", "0", first))
        used = namespace_usage(store, "a", ["requests.memory"])
        assert quantity(used["requests.memory"]) == written
        assert shown(used) == shown(recount(store, "a", ["requests.memory"]))


def test_usage_with_a_negative_request_is_summed_in_order():
    """After `1Ki` and `-1Ki` the total is back to nothing: the next object decides the units."""
    store = Store()
    namespace_usage(store, "a", ["requests.memory"])
    for name, memory in (("p0", "1Ki"), ("p1", "-1Ki"), ("p2", "2048"), ("p3", "1Ki")):
        store.put("/pods", _pod(name, memory))
    used = namespace_usage(store, "a", ["requests.memory"])
    assert quantity(used["requests.memory"]) == "3072"
    assert shown(used) == shown(recount(store, "a", ["requests.memory"]))


def _owned(owner: str | None, controller: bool = True) -> list[dict[str, Any]]:
    if owner is None:
        return []
    return [{"kind": "ReplicaSet", "name": owner, "uid": owner, "controller": controller}]


owner_writes = st.lists(
    st.tuples(
        st.booleans(),
        st.sampled_from(NAMESPACES),
        st.sampled_from(NAMES),
        st.sampled_from((None, "u1", "u2")),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(owner_writes)
def test_owned_objects_are_those_whose_controller_has_the_uid(writes):
    store = Store()
    for remove, namespace, name, owner, controller in writes:
        if remove:
            if store.get("/pods", namespace, name) is not None:
                store.remove("/pods", namespace, name)
            continue
        meta = {"name": name, "namespace": namespace, "ownerReferences": _owned(owner, controller)}
        store.put("/pods", {"metadata": meta})
    for namespace in NAMESPACES:
        for uid in ("u1", "u2"):
            expected = [
                pod
                for pod in store.items("/pods", namespace)
                if any(
                    r.get("controller") is True and r.get("uid") == uid
                    for r in pod["metadata"]["ownerReferences"][:1]
                )
            ]
            assert store.owned("/pods", namespace, uid) == expected


label_writes = st.lists(
    st.tuples(
        st.booleans(),
        st.sampled_from(NAMESPACES),
        st.sampled_from(NAMES),
        st.sampled_from(("web", "db", None)),
    ),
    max_size=30,
)


SELECTORS = ("", "app=web", "app!=web", "app in (web)", "app in (web,db)", "!app")


@settings(max_examples=200, deadline=None)
@given(
    label_writes,
    st.sampled_from((None, "a")),
    st.sampled_from(SELECTORS),
    st.sampled_from(("", "metadata.name=p1", "metadata.name!=p1")),
)
def test_a_watch_is_sent_what_it_would_see_of_every_change(writes, namespace, labels, fields):
    """The events queued for a watch (its hint files it under a label or a name) are those
    its namespace and selectors make of every change, and so are the objects a list tries."""
    select = selection(POD, {"labelSelector": labels, "fieldSelector": fields})

    async def run() -> None:
        store = Store()
        everything = store.subscribe("/pods")
        view = functools.partial(_view, namespace, select)
        watched = store.subscribe_view("/pods", view, _hint(select))
        for remove, ns, name, app in writes:
            if remove:
                if store.get("/pods", ns, name) is not None:
                    store.remove("/pods", ns, name)
            else:
                labels = {} if app is None else {"app": app}
                store.put("/pods", {"metadata": {"name": name, "namespace": ns, "labels": labels}})
            listed = store.candidates("/pods", namespace, select.label, select.name)
            assert [o for o in listed if select(o)] == [
                o for o in store.items("/pods", namespace) if select(o)
            ]
        store.close_all()
        expected: list[Any] = []
        while (change := await everything.get()) is not None:
            assert isinstance(change, Change)
            event = event_for(change, namespace, select)
            if event is not None:
                expected.append(event)
        sent: list[Any] = []
        while (event := await watched.get()) is not None:
            sent.append(event)
        assert sent == expected

    asyncio.run(run())


def test_a_wait_for_a_change_times_out_and_then_hears_the_next():
    async def run() -> None:
        store = Store()
        subscription = store.subscribe("/pods")
        try:
            await subscription.get(0.01)
        except TimeoutError:
            pass
        else:
            raise AssertionError("a wait without a change did not time out")
        asyncio.get_running_loop().call_later(0.01, store.put, "/pods", {"metadata": {"name": "x"}})
        change = await subscription.get(5)
        assert change is not None and change.type == "ADDED"

    asyncio.run(run())
