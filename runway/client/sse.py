"""Server-Sent Events as runway sends them (CONTRACT.md, Shapes: Events): a pure line parser.

The parser follows the WHATWG rules the stream relies on: `field: value` lines (one optional
space after the colon), `data:` lines joined with newlines, a comment line starting with `:`
(runway's `: ping`) ignored, and a blank line dispatching the event. I/O, reconnection and
`Last-Event-ID` are the client's (runway.client.api.Client.events).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any


class MalformedEvent(ValueError):
    """An event whose `data:` is not the JSON object runway sends, or whose `id:` is not an
    integer: the server (or something in between) is not speaking runway's stream."""


@dataclass(frozen=True, slots=True)
class Event:
    """One deployment event: its id (contiguous from 1), its type (`deployment`, `step`,
    `question`, `answer`, ...) and its data (`{id, at, type, step, status, reason, input, ...}`)."""

    id: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """A text field of the data (`step`, `status`, `reason`, `input`), None when absent."""
        value = self.data.get(name)
        return None if value is None else str(value)


class SSEParser:
    """Feed lines (without their line ending); complete events come out of `line`."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._type = ""
        self._data: list[str] = []

    def line(self, text: str) -> Event | None:
        """The event a blank line completes, else None."""
        if not text:
            return self._dispatch()
        if text.startswith(":"):
            return None
        name, _, value = text.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id" and "\x00" not in value:
            self._id = value
        return None  # `retry:` and unknown fields are ignored, as the standard says

    def _dispatch(self) -> Event | None:
        data, kind, raw_id = self._data, self._type or "message", self._id
        self._data, self._type = [], ""
        if not data:
            return None
        if raw_id is None or not (raw_id.isascii() and raw_id.isdigit()):
            raise MalformedEvent(f"an event without an integer id ({raw_id!r})")
        try:
            decoded = json.loads("\n".join(data))
        except ValueError:
            raise MalformedEvent(f"event {raw_id}: its data is not JSON") from None
        if not isinstance(decoded, dict):
            raise MalformedEvent(f"event {raw_id}: its data is not a JSON object")
        return Event(int(raw_id), kind, decoded)


async def parse_events(lines: AsyncIterable[str]) -> AsyncIterator[Event]:
    """The events of a stream of lines."""
    parser = SSEParser()
    async for text in lines:
        event = parser.line(text.rstrip("\r"))
        if event is not None:
            yield event
