"""One HTTP client for the tests' readiness polls of the servers they start.

A bare `httpx.get` builds a client, and with it an SSL context, each time: about 55 ms of CPU
(measured), taken from the very server being waited for on these two-core machines. Polled
every 50 ms while a server starts, that was most of a core."""

from __future__ import annotations

import httpx

POLLS = httpx.Client(timeout=1)


def answers_ready(url: str) -> bool:
    """Whether the server at `url` says it is ready (any HTTP error: not yet)."""
    try:
        return POLLS.get(f"{url}/readyz").status_code == 200
    except httpx.HTTPError:
        return False
