"""Step changes of one moment are written together; a refusal fails only its own caller; a
database that is away fails every caller at once; nobody waits for ever."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from runway.executor.batch import StepWrites
from runway.store import DatabaseUnavailable, StepStatus
from runway.store.transitions import StatusChanged, StepChange

pytestmark = pytest.mark.anyio


def change(step: str) -> StepChange:
    return StepChange(step, StepStatus.SUCCEEDED, (StepStatus.WAITING_READY,))


class Flushes:
    """A stand-in for the store's `steps()`: records each call, refuses what it is told to."""

    def __init__(self, refuse: str | None = None, away: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.refuse = refuse
        self.away = away

    async def __call__(self, changes: Sequence[StepChange]) -> None:
        self.calls.append([c.step for c in changes])
        await asyncio.sleep(0.01)
        if self.away:
            raise DatabaseUnavailable("the database is away")
        if any(c.step == self.refuse for c in changes):
            raise StatusChanged(f"step {self.refuse!r}", "failed", "succeeded")


async def test_changes_of_one_moment_are_one_write() -> None:
    flushes = Flushes()
    writes = StepWrites(flushes)
    await asyncio.gather(*(writes.write(change(name)) for name in "abc"))
    assert flushes.calls == [["a", "b", "c"]]


async def test_a_refused_change_fails_its_caller_alone() -> None:
    flushes = Flushes(refuse="b")
    writes = StepWrites(flushes)
    results = await asyncio.gather(
        *(writes.write(change(name)) for name in "abc"), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["NoneType", "StatusChanged", "NoneType"]
    assert flushes.calls == [["a", "b", "c"], ["a"], ["b"], ["c"]]


async def test_a_database_away_fails_every_caller_after_one_try() -> None:
    flushes = Flushes(away=True)
    writes = StepWrites(flushes)
    results = await asyncio.gather(
        *(writes.write(change(name)) for name in "abc"), return_exceptions=True
    )
    assert all(isinstance(r, DatabaseUnavailable) for r in results)
    assert flushes.calls == [["a", "b", "c"]]
    flushes.away = False
    await writes.write(change("d"))  # and the next moment writes again
    assert flushes.calls[-1] == ["d"]


async def test_a_stopped_writer_leaves_nobody_waiting() -> None:
    started = asyncio.Event()

    async def slow(changes: Sequence[StepChange]) -> None:
        started.set()
        await asyncio.sleep(60)

    writes = StepWrites(slow)
    callers = [asyncio.ensure_future(writes.write(change(name))) for name in "ab"]
    await started.wait()
    late = asyncio.ensure_future(writes.write(change("c")))  # queued behind the slow write
    await asyncio.sleep(0)
    assert writes._flushing is not None
    writes._flushing.cancel()
    done, pending = await asyncio.wait([*callers, late], timeout=5)
    assert not pending
    assert all(task.cancelled() for task in done)
