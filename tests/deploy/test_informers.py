"""The shared informers' label index answers exactly what a scan of every object would."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runway.deploy.informers import Informer, labelled, named
from runway.deploy.watch import Changed, Listed

NAMES = st.sampled_from(["a", "b", "c", "d"])
LABELS = st.dictionaries(st.sampled_from(["app", "tier", "job-name"]), st.sampled_from("xyz"))


def obj(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def scanned(objects: dict[str, dict[str, Any]], labels: dict[str, str]) -> list[str]:
    return sorted(
        name
        for name, found in objects.items()
        if all(found["metadata"]["labels"].get(k) == v for k, v in labels.items())
    )


changes = st.one_of(
    st.builds(lambda n, labels: Changed("ADDED", obj(n, labels)), NAMES, LABELS),
    st.builds(lambda n, labels: Changed("MODIFIED", obj(n, labels)), NAMES, LABELS),
    st.builds(lambda n: Changed("DELETED", obj(n, {})), NAMES),
    st.builds(
        lambda items: Listed({n: obj(n, labels) for n, labels in items.items()}),
        st.dictionaries(NAMES, LABELS),
    ),
)


@given(st.lists(changes, max_size=30), LABELS)
def test_select_finds_what_a_full_scan_finds(
    history: list[Listed | Changed], wanted: dict[str, str]
):
    informer = Informer("/api/v1/namespaces/n/pods")
    truth: dict[str, dict[str, Any]] = {}
    for change in history:
        informer.apply(change)
        if isinstance(change, Listed):
            truth = dict(change.objects)
        elif change.type == "DELETED":
            truth.pop(change.name, None)
        else:
            truth[change.name] = change.object
    found = [o["metadata"]["name"] for o in informer.select(wanted)]
    assert found == scanned(truth, wanted)
    assert set(informer.objects or {}) == set(truth)


def test_nothing_is_selected_before_the_first_list():
    assert Informer("/p").select({"app": "x"}) == []


def test_a_change_wakes_exactly_the_readers_interested_in_it():
    informer = Informer("/api/v1/namespaces/n/pods")
    by_name, by_labels, other, anything = (asyncio.Event() for _ in range(4))
    informer.add_reader(by_name, named("web-1"))
    informer.add_reader(by_labels, labelled({"app": "web"}))
    informer.add_reader(other, labelled({"app": "api"}))
    informer.add_reader(anything, None)
    informer.wake(obj("web-1", {"app": "web", "hash": "x"}))
    assert [e.is_set() for e in (by_name, by_labels, other, anything)] == [True, True, False, True]
    for event in (by_name, by_labels, anything):
        event.clear()
    # Relabelled away from api: its old self (the second object) still wakes api's reader.
    informer.wake(obj("api-1", {"app": "db"}), obj("api-1", {"app": "api"}))
    assert [e.is_set() for e in (by_name, by_labels, other, anything)] == [False, False, True, True]
    informer.remove_reader(other)
    other.clear()
    informer.wake(obj("api-2", {"app": "api"}))
    assert not other.is_set()
    informer.wake()  # a list: everyone
    assert all(e.is_set() for e in (by_name, by_labels, anything))


@given(
    st.lists(st.tuples(LABELS, st.booleans()), max_size=12),
    st.lists(LABELS, min_size=1, max_size=4),
)
def test_a_change_wakes_the_readers_whose_labels_it_has_as_a_scan_would(
    readers: list[tuple[dict[str, str], bool]], objects: list[dict[str, str]]
):
    """Selectors sharing labels (every one of a deployment's has its app's), readers leaving
    (`True`: removed again): each change wakes exactly the readers a test of every one would."""
    informer = Informer("/api/v1/namespaces/n/pods")
    kept: list[tuple[asyncio.Event, dict[str, str]]] = []
    for wanted, leaves in readers:
        event = asyncio.Event()
        informer.add_reader(event, labelled(wanted))
        if leaves:
            informer.remove_reader(event)
        else:
            kept.append((event, wanted))
    for labels in objects:
        for event, _ in kept:
            event.clear()
        informer.wake(obj("x", labels))
        woken = [event.is_set() for event, _ in kept]
        assert woken == [wanted.items() <= labels.items() for _, wanted in kept]
