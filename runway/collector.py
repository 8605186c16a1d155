"""The garbage collector of a serving process (`runway serve`, `runway sim-cluster`), set for a
long-lived server that holds many objects: what the start made is frozen, and collections come
less often. Outside the layers (it imports nothing of runway's), so that the simulated cluster
can use it without loading the HTTP server.

With CPython's defaults (700, 10, 10) a server running a deployment of a thousand steps
spent a quarter of its CPU collecting, and each full collection stopped everything for about
300 ms: it walked every object the start had made (modules, tables, the schema) and every
object the informers hold, none of which is ever garbage. Measured with bench/execute.py
(`gc` line): 3.0 s of 12.3 s of CPU with the defaults (seven full collections, 2.2 s),
0.3 s of 9.0 s with these settings (nine young collections, none of the others)."""

from __future__ import annotations

import gc

YOUNG = 50_000
"""Allocations (less deallocations) between two collections of the youngest generation: a
request makes a few thousand objects, most of them freed before it ends."""
MIDDLE = 20
"""Young collections between two of the middle generation."""
OLD = 10
"""Middle collections between two full ones, as CPython has it (which also waits until the old
generation has grown by a quarter): about every ten million allocations, so that cyclic
garbage that grew old (a traceback, a task and its frames) is not kept for hours."""


def settle() -> None:
    """Collect once, freeze every object that survives (the start's: they stay for the whole
    life of the process and are never examined again), and collect less often from now on.
    Call it once the server is built, before it serves."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
