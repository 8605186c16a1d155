"""The simulator's caches of managedFields (parsed and written `fieldsV1`) and its shared field
sets change nothing a client sees: the same writes give the same objects, byte for byte, with
the caches as without them, and the set algebra gives what plain sets of paths give."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runway.simcluster import apply as apply_module
from runway.simcluster.apply import record_update, server_side_apply
from runway.simcluster.cluster import utc_now
from runway.simcluster.fieldpath import FieldSet
from runway.simcluster.schemas import SchemaRegistry

REG = SchemaRegistry.load()

# -- FieldSet: results that share their operands are still the right sets -----------------------

elements = st.sampled_from(["f:a", "f:b", "f:spec", 'k:{"name":"web"}', 'v:"x"', "i:0"])
paths = st.lists(elements, min_size=1, max_size=4).map(tuple)
path_sets = st.lists(paths, max_size=12).map(set)


def built(members: set[tuple[str, ...]]) -> FieldSet:
    return FieldSet.of(*members)


@settings(max_examples=300)
@given(path_sets, path_sets)
def test_union_and_difference_are_the_sets_of_paths_and_leave_their_operands(a, b):
    left, right = built(a), built(b)
    union, difference = left.union(right), left.difference(right)
    assert set(union.paths()) == a | b
    assert set(difference.paths()) == a - b
    assert set(left.paths()) == a and set(right.paths()) == b  # neither operand changed
    assert union.round_trips() and difference.round_trips()
    assert FieldSet.from_fields_v1(union.to_fields_v1()) == union
    assert FieldSet.from_fields_v1(difference.to_fields_v1()) == difference
    # Nothing added or nothing taken: the very set comes back (what the caches count on).
    assert (union is left) == (b <= a)
    assert (difference is left) == (not (a & b))


def test_a_set_with_an_empty_node_does_not_round_trip():
    odd = FieldSet()
    odd.children["f:spec"] = FieldSet()
    assert not odd.round_trips()
    assert FieldSet.of(("f:spec", "f:replicas")).round_trips()


# -- writes with and without the caches ---------------------------------------------------------


def deployment(replicas: int, labels: dict[str, str], image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


managers = st.sampled_from(["runway", "kube-controller-manager", "kubectl-edit"])
statuses = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(0, 3),
        "readyReplicas": st.integers(0, 3),
        "observedGeneration": st.integers(1, 3),
        "conditions": st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["Available", "Progressing"])},
                optional={"status": st.sampled_from(["True", "False"]), "reason": st.just("x")},
            ),
            max_size=2,
            unique_by=lambda c: c["type"],
        ),
    },
)
steps = st.one_of(
    st.tuples(st.just("status"), managers, statuses, st.booleans()),
    st.tuples(
        st.just("update"),
        managers,
        st.tuples(st.integers(0, 3), st.sampled_from([{}, {"tier": "a"}]), st.sampled_from("12")),
        st.booleans(),
    ),
    st.tuples(
        st.just("apply"),
        managers,
        st.tuples(st.integers(0, 3), st.sampled_from([{}, {"tier": "b"}]), st.sampled_from("13")),
        st.booleans(),
    ),
)


def run(script: list[tuple[Any, ...]], *, cached: bool) -> list[str]:
    """The objects a series of writes leaves, as JSON. Uncached: every write starts from a fresh
    copy of the live object (no identity any cache could know) with the caches emptied."""
    live = record_update(
        None, deployment(1, {}, "web:1"), manager="creator", registry=REG, now="T0"
    )
    seen = [json.dumps(live)]
    for i, (kind, manager, what, keep) in enumerate(script):
        now = f"2026-11-28T10:00:{i:02d}Z"
        if not cached:
            live = json.loads(json.dumps(live))
            apply_module._PARSED.clear()
        if kind == "apply":
            try:
                live = server_side_apply(
                    live, deployment(*what[:2], f"web:{what[2]}"),
                    manager=manager, force=keep, registry=REG, now=now,
                )  # fmt: skip
            except apply_module.ApplyConflict as conflict:
                seen.append(conflict.message())
                continue
        else:
            new = {**live, "metadata": dict(live["metadata"])}
            if not keep:  # sent without managedFields: the live ones stay
                new["metadata"].pop("managedFields", None)
            if kind == "status":
                new["status"] = copy.deepcopy(what)
                sub = "status"
            else:
                new["spec"] = deployment(*what[:2], f"web:{what[2]}")["spec"]
                new["metadata"]["labels"] = dict(what[1])
                sub = None
            live = record_update(live, new, manager=manager, registry=REG, now=now, subresource=sub)
        seen.append(json.dumps(live))
    return seen


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, min_size=1, max_size=12))
def test_writes_give_the_same_objects_with_the_caches_as_without(script):
    assert run(script, cached=True) == run(script, cached=False)


def test_a_status_write_that_adds_no_field_keeps_its_managers_fields_object():
    live = record_update(None, deployment(1, {}, "web:1"), manager="c", registry=REG, now="T0")
    writes = []
    for i in range(3):
        new = {**live, "status": {"replicas": i}}
        live = record_update(
            live, new, manager="k", registry=REG, now=f"T{i}", subresource="status"
        )
        writes.append(live)
    entries = [
        next(e for e in w["metadata"]["managedFields"] if e.get("subresource") == "status")
        for w in writes
    ]
    assert [e["time"] for e in entries] == ["T0", "T1", "T2"]
    assert entries[0]["fieldsV1"] == {"f:status": {".": {}, "f:replicas": {}}}
    # Written once, then shared (equal to what writing it again gives, as the property shows).
    assert entries[0]["fieldsV1"] is entries[1]["fieldsV1"] is entries[2]["fieldsV1"]


# -- the clock -----------------------------------------------------------------------------------


def test_utc_now_is_the_current_second_as_datetime_writes_it():
    for _ in range(3):
        before = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        now = utc_now()
        after = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert before <= now <= after
        time.sleep(0.4)
