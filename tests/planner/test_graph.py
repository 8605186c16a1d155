"""The planner's graph: order, depths, critical path, cycles and the scheduler, on runway's spec."""

from __future__ import annotations

import pickle
import random
from collections import deque
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runway.planner.graph import CycleError, DependencyGraph, Scheduler

Deps = dict[str, list[str]]

BLOG: Deps = {"db": [], "migrate": ["db"], "web": ["migrate"], "worker": ["migrate"]}


def graph(deps: Mapping[str, Sequence[str]]) -> DependencyGraph:
    """The graph of `deps`, declared in the mapping's order."""
    return DependencyGraph.build(list(deps), deps)


def plan(deps: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    return graph(deps).order()


# --- exact examples -------------------------------------------------------------------------


def test_a_step_goes_right_after_its_dependency_when_declared_before_the_rest() -> None:
    assert plan({"x": [], "y": ["x"], "z": []}) == ("x", "y", "z")


def test_the_blog_deploys_db_then_migrate_then_web_and_worker() -> None:
    g = graph(BLOG)
    order = g.order()
    depths = g.analyse().depths

    assert order == ("db", "migrate", "web", "worker")
    assert depths == {"db": 0, "migrate": 1, "web": 2, "worker": 2}
    assert list(depths) == list(order)
    assert g.analyse().critical_path == ("db", "migrate", "web")
    assert g.find_cycles() == ()


def test_build_keeps_the_first_occurrence_of_a_repeated_dependency() -> None:
    g = DependencyGraph.build(["a", "b", "c"], {"c": ["b", "a", "b", "a"]})

    assert g.depends_on == {"a": (), "b": (), "c": ("b", "a")}
    assert g.order() == ("a", "b", "c")


def test_build_refuses_a_dependency_on_an_unknown_step() -> None:
    with pytest.raises(ValueError, match="unknown step 'ghost'"):
        DependencyGraph.build(["a"], {"a": ["ghost"]})


def test_the_cycle_example_names_the_whole_cycle_and_not_the_unrelated_step() -> None:
    g = graph({"api": ["cache"], "cache": ["queue"], "queue": ["api"], "docs": []})

    assert g.find_cycles() == (("api", "cache", "queue", "api"),)
    with pytest.raises(CycleError) as caught:
        g.order()
    assert caught.value.cycles == (("api", "cache", "queue", "api"),)
    assert str(caught.value) == "cycle: api -> cache -> queue -> api"


def test_a_step_behind_a_cycle_is_not_part_of_it() -> None:
    g = graph({"web": ["api"], "api": ["cache"], "cache": ["api"]})

    assert g.find_cycles() == (("api", "cache", "api"),)


def test_two_independent_cycles_are_both_reported_in_declaration_order() -> None:
    g = graph({"p": ["q"], "a": ["b"], "b": ["a"], "q": ["p"], "ok": []})

    assert g.find_cycles() == (("p", "q", "p"), ("a", "b", "a"))
    with pytest.raises(CycleError, match=r"^cycle: p -> q -> p; cycle: a -> b -> a$"):
        g.order()


def test_a_step_depending_on_itself_is_a_cycle() -> None:
    g = graph({"a": ["a"], "b": []})

    assert g.find_cycles() == (("a", "a"),)
    with pytest.raises(CycleError):
        g.order()


def test_a_self_dependency_inside_a_larger_cycle_is_reported_as_well() -> None:
    g = graph({"a": ["b"], "b": ["a", "b"]})

    assert g.find_cycles() == (("a", "b", "a"), ("b", "b"))


def test_a_component_with_two_cycles_gives_its_shortest_cycle_once() -> None:
    # a -> b -> c -> d -> a and a -> e -> a share a: one component, one cycle, the shorter.
    g = graph({"a": ["b", "e"], "b": ["c"], "c": ["d"], "d": ["a"], "e": ["a"]})

    assert g.find_cycles() == (("a", "e", "a"),)


def test_equally_short_cycles_go_to_the_earlier_declared_steps() -> None:
    g = graph({"a": ["c", "b"], "b": ["a"], "c": ["a"]})

    assert g.find_cycles() == (("a", "b", "a"),)


def test_cycle_error_survives_pickling() -> None:
    error = CycleError([("a", "b", "a")])

    copy = pickle.loads(pickle.dumps(error))

    assert copy.cycles == error.cycles
    assert str(copy) == str(error)


def test_critical_path_tie_goes_to_the_chain_first_in_plan_order_not_declaration_order() -> None:
    # `a` is declared before `b` but waits for `z`, so the plan is root, b, z, a:
    # root -> b, root -> a and z -> a are equally long, and root -> b comes first in plan order.
    g = graph({"a": ["root", "z"], "root": [], "b": ["root"], "z": []})
    order = g.order()

    assert order == ("root", "b", "z", "a")
    assert g.analyse().critical_path == ("root", "b")


def test_critical_path_prefers_the_earliest_start_among_equally_long_chains() -> None:
    g = graph({"w": ["m"], "x": ["r"], "m": [], "r": []})
    order = g.order()

    assert order == ("m", "w", "r", "x")
    assert g.analyse().critical_path == ("m", "w")


def test_an_empty_graph_has_an_empty_plan() -> None:
    g = graph({})

    assert g.order() == ()
    assert g.analyse().depths == {}
    assert g.analyse().critical_path == ()
    assert g.find_cycles() == ()


def test_scheduler_readies_a_step_as_soon_as_its_own_dependencies_are_done() -> None:
    g = graph({"db": [], "slow": [], "web": ["db"], "report": ["slow", "web"]})
    s = Scheduler(g, g.order())

    assert s.get_ready() == ("db", "slow")
    assert s.get_ready() == ()
    s.done("db")
    assert s.get_ready() == ("web",)  # without waiting for `slow`, of the same level
    s.done("web")
    assert s.get_ready() == ()
    assert s.is_active()
    s.done("slow")
    assert s.get_ready() == ("report",)
    s.done("report")
    assert not s.is_active()


def test_scheduler_lists_what_was_never_started_after_a_failure() -> None:
    g = graph(BLOG | {"docs": []})
    s = Scheduler(g, g.order())

    assert s.get_ready() == ("db", "docs")
    s.done("docs")
    # db failed: the executor stops handing out and skips what is left.
    assert s.blocked() == ("migrate", "web", "worker")


def test_scheduler_resumes_after_a_restart_with_the_finished_steps() -> None:
    g = graph(BLOG)
    s = Scheduler(g, g.order(), done=["db", "migrate"])

    assert s.get_ready() == ("web", "worker")
    assert s.blocked() == ()


def test_scheduler_refuses_unknown_unstarted_and_repeated_steps_and_changes_nothing() -> None:
    g = graph(BLOG)
    s = Scheduler(g, g.order())
    s.get_ready()

    with pytest.raises(ValueError, match="unknown step 'nope'"):
        s.done("nope")
    with pytest.raises(ValueError, match="'web' was not handed out"):
        s.done("db", "web")
    with pytest.raises(ValueError, match="'db' is already done"):
        s.done("db", "db")
    s.done("db")
    with pytest.raises(ValueError, match="'db' is already done"):
        s.done("db")
    with pytest.raises(ValueError, match="unknown step"):
        Scheduler(g, g.order(), done=["nope"])
    assert s.get_ready() == ("migrate",)


# --- scale ----------------------------------------------------------------------------------


def test_ten_thousand_steps_in_a_chain_or_a_cycle_do_not_hit_the_recursion_limit() -> None:
    names = [f"s{i}" for i in range(10_000)]
    chain = DependencyGraph.build(names, {names[i]: [names[i - 1]] for i in range(1, len(names))})
    depths = chain.analyse().depths

    assert chain.find_cycles() == ()
    assert depths[names[-1]] == 9_999
    assert chain.analyse().critical_path == tuple(names)

    ring = DependencyGraph.build(names, {name: [names[i - 1]] for i, name in enumerate(names)})
    (cycle,) = ring.find_cycles()
    assert cycle == ("s0", *reversed(names[1:]), "s0")


def test_a_wide_layered_graph_plans_and_schedules() -> None:
    rng = random.Random(7)
    layers, width = 100, 100
    names = [f"s{layer}-{i}" for layer in range(layers) for i in range(width)]
    deps = {
        f"s{layer}-{i}": [f"s{layer - 1}-{d}" for d in sorted(rng.sample(range(width), 3))]
        for layer in range(1, layers)
        for i in range(width)
    }
    g = DependencyGraph.build(names, deps)
    order = g.order()
    path = g.analyse().critical_path

    assert len(path) == layers
    s = Scheduler(g, order)
    handed = 0
    while s.is_active():
        ready = s.get_ready()
        handed += len(ready)
        s.done(*ready)
    assert handed == len(names)


# --- properties -----------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn, max_steps: int = 10) -> Deps:
    """A random DAG whose declaration order is unrelated to its dependency direction."""
    count = draw(st.integers(0, max_steps))
    names = [f"n{i}" for i in range(count)]
    rank = draw(st.permutations(range(count)))  # a step depends only on lower-ranked ones
    deps: Deps = {}
    for i, name in enumerate(names):
        lower = [names[j] for j in range(count) if rank[j] < rank[i]]
        deps[name] = draw(st.lists(st.sampled_from(lower), unique=True)) if lower else []
    return deps


@st.composite
def digraphs(draw: st.DrawFn, max_steps: int = 9) -> Deps:
    """A random dependency graph, cycles and self-dependencies allowed."""
    count = draw(st.integers(1, max_steps))
    names = [f"n{i}" for i in range(count)]
    return {name: draw(st.lists(st.sampled_from(names), unique=True, max_size=3)) for name in names}


def reference_order(deps: Deps) -> list[str]:
    """The spec in its plainest form: repeatedly place the earliest-declared placeable step."""
    placed: list[str] = []
    while len(placed) < len(deps):
        placed.append(next(n for n in deps if n not in placed and set(deps[n]) <= set(placed)))
    return placed


def reachable(deps: Deps, start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for d in deps[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def components(deps: Deps) -> list[set[str]]:
    """Strongly connected components of two or more steps, by brute-force reachability."""
    reach = {n: reachable(deps, n) for n in deps}
    found: list[set[str]] = []
    for n in deps:
        members = {n} | {m for m in reach[n] if n in reach[m]}
        if len(members) > 1 and members not in found:
            found.append(members)
    return found


def shortest_cycle_length(deps: Deps, start: str) -> int:
    """Edges in the shortest cycle of two or more steps through `start`."""
    distance = {start: 0}
    queue = deque([start])
    best = None
    while queue:
        v = queue.popleft()
        for w in deps[v]:
            if w == start and v != start:
                best = distance[v] + 1 if best is None else min(best, distance[v] + 1)
            elif w not in distance:
                distance[w] = distance[v] + 1
                queue.append(w)
    assert best is not None
    return best


def chains(deps: Deps) -> list[list[str]]:
    """Every chain of steps, dependency first, that cannot be extended at either end."""
    dependents: dict[str, list[str]] = {n: [] for n in deps}
    for n, ds in deps.items():
        for d in ds:
            dependents[d].append(n)
    found: list[list[str]] = []

    def extend(path: list[str]) -> None:
        if not dependents[path[-1]]:
            found.append(path)
        for n in dependents[path[-1]]:
            extend([*path, n])

    for n in deps:
        if not deps[n]:
            extend([n])
    return found


def shuffled(deps: Deps, seed: int) -> Deps:
    keys = list(deps)
    random.Random(seed).shuffle(keys)
    return {k: deps[k] for k in keys}


@given(dags(), st.integers())
def test_order_respects_every_edge_and_ignores_mapping_order(deps: Deps, seed: int) -> None:
    g = graph(deps)
    order = g.order()
    position = {n: p for p, n in enumerate(order)}

    assert sorted(order) == sorted(deps)
    assert all(position[d] < position[n] for n, ds in deps.items() for d in ds)
    assert list(order) == reference_order(deps)
    assert g.order() == order
    again = DependencyGraph.build(list(deps), shuffled(deps, seed))
    assert again.order() == order
    assert again.analyse().depths == g.analyse().depths
    assert again.analyse().critical_path == g.analyse().critical_path


@given(dags())
def test_depth_is_one_more_than_the_deepest_dependency(deps: Deps) -> None:
    g = graph(deps)
    depths = g.analyse().depths

    for n, ds in deps.items():
        assert depths[n] == (1 + max(depths[d] for d in ds) if ds else 0)


@given(dags())
def test_critical_path_is_the_longest_chain_first_in_plan_order(deps: Deps) -> None:
    g = graph(deps)
    order = g.order()
    position = {n: p for p, n in enumerate(order)}
    path = list(g.analyse().critical_path)

    if not deps:
        assert path == []
        return
    assert all(path[k] in deps[path[k + 1]] for k in range(len(path) - 1))
    every = chains(deps)
    longest = max(map(len, every))
    assert len(path) == longest
    assert path == min(
        (c for c in every if len(c) == longest), key=lambda c: [position[n] for n in c]
    )


@given(digraphs())
def test_every_cycle_is_real_and_every_component_has_exactly_one(deps: Deps) -> None:
    g = graph(deps)
    cycles = g.find_cycles()
    declared = list(deps)

    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert len(set(cycle[:-1])) == len(cycle) - 1
        assert all(cycle[k + 1] in deps[cycle[k]] for k in range(len(cycle) - 1))
    assert [declared.index(c[0]) for c in cycles] == sorted(declared.index(c[0]) for c in cycles)

    self_loops = [c for c in cycles if len(c) == 2]
    assert sorted(c[0] for c in self_loops) == sorted(n for n in deps if n in deps[n])
    longer = [c for c in cycles if len(c) > 2]
    found = components(deps)
    assert len(longer) == len(found)
    for members in found:
        (cycle,) = [c for c in longer if c[0] in members]
        assert set(cycle) <= members
        assert cycle[0] == min(members, key=declared.index)
        assert len(cycle) - 1 == shortest_cycle_length(deps, cycle[0])


@given(digraphs(), st.integers())
def test_order_refuses_exactly_the_graphs_with_cycles(deps: Deps, seed: int) -> None:
    g = graph(deps)
    cycles = g.find_cycles()

    assert DependencyGraph.build(list(deps), shuffled(deps, seed)).find_cycles() == cycles
    if cycles:
        with pytest.raises(CycleError) as caught:
            g.order()
        assert caught.value.cycles == cycles
    else:
        assert list(g.order()) == reference_order(deps)


@settings(max_examples=200)
@given(dags(), st.data())
def test_scheduler_hands_out_every_step_once_and_only_after_its_dependencies(
    deps: Deps, data: st.DataObject
) -> None:
    g = graph(deps)
    order = g.order()
    resumed = order[: data.draw(st.integers(0, len(order)), label="done before restart")]
    s = Scheduler(g, order, done=resumed)
    done = set(resumed)
    running: list[str] = []
    handed: list[str] = []

    while s.is_active():
        ready = s.get_ready()
        # Exactly the steps whose own dependencies are done, in plan order.
        expected = [
            n
            for n in order
            if n not in done and n not in running and n not in handed and set(deps[n]) <= done
        ]
        assert list(ready) == expected
        handed.extend(ready)
        running.extend(ready)
        assert s.blocked() == tuple(n for n in order if n not in done and n not in handed)
        if running:
            finished = data.draw(
                st.lists(st.sampled_from(running), min_size=1, unique=True), label="finished"
            )
            s.done(*finished)
            done.update(finished)
            running = [n for n in running if n not in finished]

    assert sorted(handed) == sorted(set(order) - set(resumed))
    assert len(handed) == len(set(handed))
    assert s.blocked() == ()
