"""Step changes of one run written together when they come in the same moment.

Fifty steps of a layer settle within milliseconds of each other. Written one by one, that is
fifty transactions, each waiting for the one before (SQLite has one writer; on Postgres they
queue on the deployment's event counter). Here the first change of a moment starts a flush on
the next turn of the event loop; every change made before it runs joins the same transaction
(group commit). Each caller still waits until its own change is stored, so "stored before it
is acted on" holds as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from runway.store.errors import NotFound
from runway.store.transitions import StatusChanged, StepChange

Write = Callable[[Sequence[StepChange]], Awaitable[object]]


class StepWrites:
    """Batches the step changes given to `write` into as few calls of `flush` as possible."""

    def __init__(self, flush: Write) -> None:
        self._flush = flush
        self._pending: list[tuple[StepChange, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, change: StepChange) -> None:
        """Until `change` is stored (with whatever else came meanwhile); what storing it
        raised (LeaseLost, StatusChanged, the database away) otherwise."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a caller cancelled meanwhile never reads it
        self._pending.append((change, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._drain())
        await asyncio.shield(future)  # a cancelled caller does not cancel the others' write

    async def settle(self) -> None:
        """Until the changes given so far are written (or failed)."""
        flushing = self._flushing
        if flushing is not None:
            await asyncio.wait([flushing])

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._store(batch)
        finally:  # cancelled (the run is stopping): nobody is left waiting for ever
            leftover, self._pending = self._pending, []
            for _, future in leftover:
                _settle(future, asyncio.CancelledError())
            self._flushing = None

    async def _store(self, batch: list[tuple[StepChange, asyncio.Future[None]]]) -> None:
        """Write `batch` and tell each caller how it went; raises only when cancelled."""
        try:
            await self._flush([change for change, _ in batch])
        except (StatusChanged, NotFound) as error:
            if len(batch) == 1:
                _settle(batch[0][1], error)
                return
            # All or none was refused: each alone, so one refused change fails only its caller.
            try:
                for item in batch:
                    await self._store([item])
            finally:
                for _, future in batch:
                    _settle(future, asyncio.CancelledError())
        except asyncio.CancelledError as error:
            for _, future in batch:
                _settle(future, error)
            raise
        except Exception as error:  # the database away, the lease lost: every caller hears it
            for _, future in batch:
                _settle(future, error)
        else:
            for _, future in batch:
                _settle(future, None)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    elif isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)
