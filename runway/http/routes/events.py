"""A deployment's events as Server-Sent Events (CONTRACT.md, Shapes: Events).

Each event goes out as `id:` (contiguous from 1 per deployment), `event:` (its type) and `data:`
(JSON `{id, at, type, step, status, reason, input, instance}`, fields absent when not
relevant). Without `Last-Event-ID` the stream starts from event 1; with it, after that id. It
closes once the deployment is final and every event stored until then was sent.

New events are found by reading the store again: at once when the store's EventHub wakes the
stream (this process stored one, or, on Postgres, the store's listener heard another instance
announce one through LISTEN/NOTIFY), and every REREAD seconds anyway, in case a notification was
lost (the listening connection dropped). Reads go by id, so a wake-up too many costs one empty
read and events are never sent twice or out of order.

A comment line `: ping` goes out after PING seconds of silence; at each ping the caller's token
is checked again, so a revoked token or a disabled user stops watching too. A client that goes
away ends the stream: Starlette's StreamingResponse listens for the disconnect (ASGI spec before
2.4, as uvicorn speaks it) and cancels the generator, and a write to a closed connection fails
in any case (at the latest at the next ping); sse-starlette would add nothing runway needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from runway.auth import token_hash
from runway.executor.states import FINAL
from runway.http.context import Context, context
from runway.http.errors import invalid
from runway.http.requests import caller
from runway.http.routes.deployments import visible_deployment
from runway.http.views import iso
from runway.store import StoreError
from runway.store.pages import MAX_ID
from runway.store.records import Event

log = logging.getLogger("runway.http")

PING = 15.0
"""Seconds of silence before a `: ping` comment."""
REREAD = 2.0
"""Seconds between two reads of the store when nothing woke the stream (the fallback for a lost
notification)."""
BATCH = 500
"""Events read at once."""
FIELDS = ("step", "status", "reason", "input", "instance")
"""What an event's data may carry besides id, at and type (never a secret value)."""
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""No cache may keep the stream, and no proxy (nginx) may buffer it."""


async def deployment_events(request: Request) -> Response:
    who = await caller(request)
    deployment = await visible_deployment(request, who)
    after = _last_event_id(request)
    if request.method == "HEAD":
        return Response(media_type="text/event-stream", headers=HEADERS)
    ctx = context(request)
    token = request.headers["authorization"].partition(" ")[2].strip()
    stream = _stream(ctx, deployment.id, after, deployment.status in FINAL, token_hash(token))
    return StreamingResponse(stream, media_type="text/event-stream", headers=HEADERS)


def _last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id", "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > MAX_ID:
        raise invalid("Last-Event-ID must be the id of an event (an integer from 0)")
    return int(raw)


def event_text(event: Event) -> str:
    """One event as the stream writes it."""
    data: dict[str, Any] = {"id": event.id, "at": iso(event.at), "type": event.type}
    data.update({k: event.data[k] for k in FIELDS if event.data.get(k) is not None})
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.type}\ndata: {body}\n\n"


async def _stream(
    ctx: Context, deployment_id: int, after: int, final: bool, hashed: str
) -> AsyncIterator[str]:
    """The events after `after` until the deployment is final (`final`: it was already, when
    it was read before the first read of its events) and its events are all sent."""
    try:
        with ctx.store.events_hub.watching(deployment_id):
            async for text in _events(ctx, deployment_id, after, final, hashed):
                yield text
    except StoreError as error:
        # The response has begun: end it; the client resumes with Last-Event-ID.
        log.warning("event stream of deployment %s ended: %s", deployment_id, error)


async def _events(
    ctx: Context, deployment_id: int, after: int, final: bool, hashed: str
) -> AsyncIterator[str]:
    hub = ctx.store.events_hub
    quiet_since = time.monotonic()
    while True:
        changed = hub.changed(deployment_id)  # taken before reading: no event slips by
        batch = await ctx.store.deployments.events(deployment_id, after=after, limit=BATCH)
        for event in batch:
            yield event_text(event)
            after = event.id
            final = final or (event.type == "deployment" and event.data.get("status") in FINAL)
        if batch:
            quiet_since = time.monotonic()
        if len(batch) == BATCH:
            continue
        if final or hub.closing:
            return
        left = PING - (time.monotonic() - quiet_since)
        if left <= 0:
            if await ctx.store.credentials.authenticate(hashed, ctx.now()) is None:
                return
            yield ": ping\n\n"
            quiet_since = time.monotonic()
            left = PING
        with contextlib.suppress(TimeoutError):  # (not wait_for: it can lose a cancel)
            async with asyncio.timeout(min(REREAD, left)):
                await changed.wait()


routes = [
    Route("/api/v1/deployments/{id}/events", deployment_events, methods=["GET"]),
]
