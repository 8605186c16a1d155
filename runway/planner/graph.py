"""The dependency graph of a plan: order, depths, critical path, cycles, and a step scheduler.

Pure computation on step names given in declaration order, modelled on `graphlib`: nothing here
sleeps, reads or applies. The configuration validator has already checked that every dependency
exists; a step depending on itself may still arrive here, and is reported as a cycle.

Internally every step is its declaration index, so ties ("the one declared first") are integer
comparisons and no answer depends on the iteration order of a mapping.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Analysis", "CycleError", "DependencyGraph", "Scheduler"]


class CycleError(ValueError):
    """The graph has cycles; `cycles` holds each independent one.

    Each cycle is closed and follows the dependency direction: `("api", "cache", "queue", "api")`
    means api depends on cache, cache on queue and queue on api.
    """

    cycles: tuple[tuple[str, ...], ...]

    def __init__(self, cycles: Iterable[Sequence[str]]) -> None:
        self.cycles = tuple(tuple(cycle) for cycle in cycles)
        super().__init__("; ".join("cycle: " + " -> ".join(cycle) for cycle in self.cycles))

    def __reduce__(self) -> tuple[type[CycleError], tuple[tuple[tuple[str, ...], ...]]]:
        # The constructor takes the cycles, not the message: pickle must pass them back.
        return (CycleError, (self.cycles,))


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the planner needs of a graph without cycles, computed in one go."""

    order: tuple[str, ...]
    depths: dict[str, int]
    critical_path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DependencyGraph:
    """Steps in declaration order and what each depends on; build one with `build`."""

    names: tuple[str, ...]
    """Every step, in declaration order."""
    depends_on: Mapping[str, tuple[str, ...]]
    """Each step's dependencies, without repeats; every step is a key (an empty tuple allowed)."""

    # The same graph on declaration indexes, computed once in __post_init__.
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _deps: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)
    _dependents: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls, names: Sequence[str], depends_on: Mapping[str, Iterable[str]]
    ) -> DependencyGraph:
        """The graph of `names`; each dependency list keeps its first occurrences, in order.

        A step missing from `depends_on` depends on nothing.
        """
        frozen = {name: tuple(dict.fromkeys(depends_on.get(name, ()))) for name in names}
        extra = [name for name in depends_on if name not in frozen]
        if extra:
            raise ValueError(f"dependencies given for unknown steps: {', '.join(map(str, extra))}")
        return cls(tuple(names), MappingProxyType(frozen))

    def __post_init__(self) -> None:
        names = self.names
        index = {name: i for i, name in enumerate(names)}
        if len(index) != len(names):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"step {name!r} is declared twice")
                seen.add(name)
        deps: list[tuple[int, ...]] = []
        dependents: list[list[int]] = [[] for _ in names]
        depends_on = self.depends_on
        for i, name in enumerate(names):
            try:
                listed = depends_on[name]
            except KeyError:
                raise ValueError(f"step {name!r} has no entry in depends_on") from None
            try:
                own = tuple([index[dep] for dep in listed])
            except KeyError as missing:
                raise ValueError(f"step {name!r} depends on unknown step {missing}") from None
            deps.append(own)
            # Appending while i grows keeps every dependents list in declaration order, and
            # puts a repeated dependency's second `i` right after its first.
            for d in own:
                after = dependents[d]
                if after and after[-1] == i:
                    # A repeat would be counted twice by Kahn's algorithm and the scheduler.
                    raise ValueError(f"step {name!r} lists a dependency twice; use build()")
                after.append(i)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_deps", tuple(deps))
        object.__setattr__(self, "_dependents", tuple(map(tuple, dependents)))

    def find_cycles(self) -> tuple[tuple[str, ...], ...]:
        """Every independent cycle, closed, in the order of its first step's declaration.

        One cycle per strongly connected component of two or more steps: the shortest through the
        component's earliest-declared step, ties going to earlier-declared steps. Plus `(a, a)` for
        every step `a` that depends on itself. Empty for a graph without cycles.
        """
        names = self.names
        deps = self._deps
        candidates = self._unplaceable()
        if not candidates:
            return ()
        found: list[tuple[int, ...]] = [(i, i) for i in candidates if i in deps[i]]
        component = _components(deps, candidates)
        for start in sorted(_component_roots(component, candidates)):
            found.append(_shortest_cycle(deps, component, start))
        # Sorting (first, length) puts a self-loop before the longer cycle starting at that step.
        found.sort(key=lambda cycle: (cycle[0], len(cycle)))
        return tuple(tuple(names[i] for i in cycle) for cycle in found)

    def order(self) -> tuple[str, ...]:
        """Plan order: Kahn's algorithm, always placing the earliest-declared step that can go.

        Raises `CycleError` naming every cycle when some steps can never be placed.
        """
        names = self.names
        return tuple([names[i] for i in self._order()[0]])

    def analyse(self) -> Analysis:
        """Order, depths and critical path at once, as `order`, `depths` and `critical_path`
        would give them, without checking the order twice (the planner's hot path)."""
        names = self.names
        plan, depth = self._order()
        return Analysis(
            order=tuple([names[i] for i in plan]),
            depths={names[i]: depth[i] for i in plan},
            critical_path=tuple([names[i] for i in self._critical(plan, depth)]),
        )

    def _order(self) -> tuple[list[int], list[int]]:
        """Kahn's algorithm on indexes, earliest-declared first, with each step's depth found
        while its dependencies are placed; CycleError when stuck."""
        dependents = self._dependents
        waiting = [len(own) for own in self._deps]
        depth = [0] * len(waiting)
        # Ascending indexes already form a valid heap.
        heap = [i for i, count in enumerate(waiting) if not count]
        placed: list[int] = []
        pop, push, append = heapq.heappop, heapq.heappush, placed.append
        while heap:
            i = pop(heap)
            append(i)
            below = depth[i] + 1
            for j in dependents[i]:
                if depth[j] < below:
                    depth[j] = below
                waiting[j] -= 1
                if not waiting[j]:
                    push(heap, j)
        if len(placed) != len(self.names):
            raise CycleError(self.find_cycles())
        return placed, depth

    def _critical(self, plan: Sequence[int], depth: Sequence[int]) -> list[int]:
        if not plan:
            return []
        dependents = self._dependents
        position = [0] * len(self.names)
        for p, i in enumerate(plan):
            position[i] = p
        # Height: the number of steps after this one on the longest chain of its dependents.
        height = [0] * len(self.names)
        for i in reversed(plan):
            after = dependents[i]
            if after:
                height[i] = 1 + max([height[j] for j in after])
        longest = max(depth)
        # A step on a longest chain has depth k and height longest - k; any dependent of the k-th
        # step with height longest - k - 1 therefore has depth k + 1, so taking the earliest such
        # step in plan order at each stage yields the lexicographically smallest chain.
        current = next(i for i in plan if height[i] == longest and not depth[i])
        chain = [current]
        for k in range(longest - 1, -1, -1):
            current = min(
                (j for j in dependents[current] if height[j] == k), key=position.__getitem__
            )
            chain.append(current)
        return chain

    def _plan(self, order: Sequence[str]) -> list[int]:
        """`order` as indexes, checked to hold every step once, each after its dependencies."""
        index = self._index
        try:
            plan = [index[name] for name in order]
        except KeyError as missing:
            raise ValueError(f"order names unknown step {missing}") from None
        position = [-1] * len(self.names)
        deps = self._deps
        for p, i in enumerate(plan):
            if position[i] != -1:
                raise ValueError(f"order names step {self.names[i]!r} twice")
            position[i] = p
            for d in deps[i]:
                # Unplaced dependencies still hold -1, so one comparison catches both a missing
                # dependency and one placed after its dependent (a self-dependency included).
                if position[d] == -1 or d == i:
                    raise ValueError(
                        f"order places {self.names[i]!r} before its dependency {self.names[d]!r}"
                    )
        if len(plan) != len(self.names):
            raise ValueError(f"order has {len(plan)} steps, the graph {len(self.names)}")
        return plan

    def _unplaceable(self) -> list[int]:
        """Steps Kahn's algorithm can never place, ascending: those on or behind a cycle."""
        dependents = self._dependents
        waiting = [len(own) for own in self._deps]
        # Without a heap: only which steps remain matters here, not the order they leave in.
        free = [i for i, count in enumerate(waiting) if not count]
        pop, push = free.pop, free.append
        while free:
            for j in dependents[pop()]:
                waiting[j] -= 1
                if not waiting[j]:
                    push(j)
        return [i for i, count in enumerate(waiting) if count]


def _components(deps: Sequence[Sequence[int]], nodes: Sequence[int]) -> list[int]:
    """Tarjan's strongly connected components of the subgraph on `nodes`, without recursion.

    Returns, for every node of the graph, the root index of its component (-1 outside `nodes`).
    The subgraph is closed for cycles: any node reached from a cycle and outside `nodes` cannot
    lead back to one, so edges leaving `nodes` are ignored.
    """
    count = len(deps)
    inside = [False] * count
    for v in nodes:
        inside[v] = True
    number = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    component = [-1] * count
    stack: list[int] = []
    counter = 0
    for root in nodes:
        if number[root] != -1:
            continue
        number[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        # Explicit work stack of (node, iterator over its dependencies) in place of recursion.
        work = [(root, iter(deps[root]))]
        while work:
            v, edges = work[-1]
            for w in edges:
                if not inside[w]:
                    continue
                if number[w] == -1:
                    number[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, iter(deps[w])))
                    break
                if on_stack[w] and number[w] < low[v]:
                    low[v] = number[w]
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[v] < low[parent]:
                        low[parent] = low[v]
                if low[v] == number[v]:
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        component[w] = v
                        if w == v:
                            break
    return component


def _component_roots(component: Sequence[int], nodes: Sequence[int]) -> list[int]:
    """The earliest-declared member of every component with two or more members."""
    first: dict[int, int] = {}
    size: dict[int, int] = {}
    for v in nodes:  # ascending, so the first member seen is the earliest declared
        root = component[v]
        first.setdefault(root, v)
        size[root] = size.get(root, 0) + 1
    return [first[root] for root, members in size.items() if members > 1]


def _shortest_cycle(
    deps: Sequence[Sequence[int]], component: Sequence[int], start: int
) -> tuple[int, ...]:
    """The shortest cycle of two or more steps through `start`, within its component.

    Breadth-first with each step's dependencies visited in declaration order: the first path found
    back to `start` is the shortest, and among the shortest the lexicographically smallest.
    Self-dependencies are reported on their own, so they are skipped here.
    """
    own = component[start]
    parent = {start: start}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(deps[v]):
            if w == start and v != start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return (*reversed(path), start)
            if w not in parent and component[w] == own:
                parent[w] = v
                queue.append(w)
    raise AssertionError("a component of two or more steps has a cycle through each member")


class Scheduler:
    """graphlib-like incremental view of a DependencyGraph for the executor.

    A step is ready as soon as its own dependencies are done. `get_ready` hands each step out once,
    in plan order; the caller reports finished steps with `done`.
    """

    __slots__ = (
        "_dependents",
        "_graph",
        "_handed_out",
        "_plan",
        "_position",
        "_ready",
        "_state",
        "_waiting",
    )

    def __init__(
        self, graph: DependencyGraph, order: Sequence[str], done: Iterable[str] = ()
    ) -> None:
        """Schedule `graph` in `order` (a plan order of it); steps in `done` resume as finished."""
        self._graph = graph
        self._plan = graph._plan(order)
        self._dependents = graph._dependents
        self._position = [0] * len(graph.names)
        for p, i in enumerate(self._plan):
            self._position[i] = p
        self._waiting = [len(own) for own in graph._deps]
        self._state = [_WAITING] * len(graph.names)
        self._handed_out = 0
        finished = {self._lookup(name) for name in done}
        for i in finished:
            self._state[i] = _DONE
            for j in self._dependents[i]:
                self._waiting[j] -= 1
        # Already in plan order, so the first get_ready needs no sort.
        self._ready = [i for i in self._plan if i not in finished and not self._waiting[i]]
        for i in self._ready:
            self._state[i] = _READY

    def get_ready(self) -> tuple[str, ...]:
        """Steps whose dependencies are all done and not yet handed out, in plan order."""
        ready = self._ready
        if not ready:
            return ()
        ready.sort(key=self._position.__getitem__)
        state = self._state
        for i in ready:
            state[i] = _HANDED_OUT
        self._handed_out += len(ready)
        self._ready = []
        names = self._graph.names
        return tuple([names[i] for i in ready])

    def done(self, *names: str) -> None:
        """Mark handed-out steps as done, which may make their dependents ready.

        ValueError, with nothing changed, for an unknown step or one not handed out or already done.
        """
        steps = [self._lookup(name) for name in names]
        state = self._state
        # Checked before any change, so a bad call leaves the scheduler as it was.
        seen: set[int] = set()
        for name, i in zip(names, steps, strict=True):
            if state[i] == _DONE or i in seen:
                raise ValueError(f"step {name!r} is already done")
            if state[i] != _HANDED_OUT:
                raise ValueError(f"step {name!r} was not handed out by get_ready")
            seen.add(i)
        for i in steps:
            state[i] = _DONE
            self._release(i)
        self._handed_out -= len(steps)

    def is_active(self) -> bool:
        """Whether a step is ready, or handed out and not yet done."""
        return bool(self._ready) or self._handed_out > 0

    def blocked(self) -> tuple[str, ...]:
        """Steps not handed out (nor done on resume), in plan order."""
        names = self._graph.names
        state = self._state
        return tuple([names[i] for i in self._plan if state[i] <= _READY])

    def _lookup(self, name: str) -> int:
        try:
            return self._graph._index[name]
        except KeyError:
            raise ValueError(f"unknown step {name!r}") from None

    def _release(self, i: int) -> None:
        """Count `i` as done for its dependents; queue those left with nothing to wait for."""
        waiting = self._waiting
        state = self._state
        for j in self._dependents[i]:
            waiting[j] -= 1
            if not waiting[j] and state[j] == _WAITING:
                state[j] = _READY
                self._ready.append(j)


# A scheduled step's life; `blocked` relies on WAITING and READY being the two smallest.
_WAITING, _READY, _HANDED_OUT, _DONE = range(4)
