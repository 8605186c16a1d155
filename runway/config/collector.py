"""Pausing the cyclic garbage collector while a document becomes data."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Reading a large configuration makes hundreds of thousands of objects that all live on, and
    every collection the allocations trigger walks all of them again: with 10,000 services that
    was 8% of the time and made reading grow faster than the document. Nothing made here forms
    reference cycles, so reference counting frees it all the same; the collector runs again
    (if it was running) when the block ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
