"""The client's event reader: the stream's lines as events, and a dropped stream resumed with
`Last-Event-ID` (an httpx mock transport plays the server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from runway.client import Client, ClientError, Event
from runway.client import api as client_api
from runway.client.sse import MalformedEvent, SSEParser


def parse(text: str) -> list[Event]:
    parser = SSEParser()
    found = []
    for line in text.split("\n"):
        event = parser.line(line)
        if event is not None:
            found.append(event)
    return found


def frame(ident: int, kind: str, **data: object) -> str:
    return (
        f"id: {ident}\nevent: {kind}\ndata: {json.dumps({'id': ident, 'type': kind, **data})}\n\n"
    )


def test_lines_become_events_and_comments_are_skipped():
    text = (
        frame(1, "deployment", status="running")
        + ": ping\n\n"
        + 'id:2\nevent:step\ndata: {"step": "db",\ndata: "status": "applying"}\n\n'
    )
    events = parse(text)
    assert [(e.id, e.type) for e in events] == [(1, "deployment"), (2, "step")]
    assert events[0].get("status") == "running"
    assert events[1].data == {"step": "db", "status": "applying"}  # data lines joined
    assert events[1].get("reason") is None


@pytest.mark.parametrize(
    "text",
    [
        "id: 1\ndata: not json\n\n",
        "id: 1\ndata: [1, 2]\n\n",
        'data: {"a": 1}\n\n',
        "id: x\ndata: {}\n\n",
    ],
)
def test_an_event_that_is_not_runways_is_malformed(text: str):
    with pytest.raises(MalformedEvent):
        parse(text)


class DroppingStream(httpx.AsyncByteStream):
    """Sends `body`, then fails as a dropped connection does (or ends, when `drop` is False)."""

    def __init__(self, body: str, drop: bool) -> None:
        self.body, self.drop = body, drop

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body.encode()
        if self.drop:
            raise httpx.ReadError("connection reset by peer")


def serve(answers: list[tuple[str, bool]], seen: list[str | None]) -> httpx.MockTransport:
    """A server that answers the n-th request for events with answers[n] (body, dropped)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("last-event-id"))
        body, drop = answers[min(len(seen), len(answers)) - 1]
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=DroppingStream(body, drop)
        )

    return httpx.MockTransport(handler)


async def collect(transport: httpx.MockTransport) -> list[Event]:
    async with Client("http://runway.test", "token", transport=transport) as client:
        return [event async for event in client.events(7)]


def test_a_dropped_stream_is_resumed_after_the_last_event(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(client_api, "BACKOFF", 0.0)
    seen: list[str | None] = []
    transport = serve(
        [
            (frame(1, "deployment", status="running") + frame(2, "step", step="db"), True),
            (frame(3, "deployment", status="succeeded"), False),
            ("", False),  # asked again after a close: nothing more, the deployment is over
        ],
        seen,
    )
    events = asyncio.run(collect(transport))
    assert [e.id for e in events] == [1, 2, 3]
    assert seen == ["0", "2", "3"]


def test_a_stream_that_keeps_dropping_is_given_up_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(client_api, "BACKOFF", 0.0)
    seen: list[str | None] = []
    transport = serve([(frame(1, "deployment", status="running"), False), ("", True)], seen)
    with pytest.raises(ClientError) as raised:
        asyncio.run(collect(transport))
    assert raised.value.code == "unreachable"
    assert "lost the event stream of http://runway.test" in raised.value.message
    assert seen == ["0", *["1"] * (client_api.RECONNECTS + 1)]


def test_a_refusal_of_the_stream_is_the_servers_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404, json={"error": {"code": "not_found", "message": "deployment 7 not found"}}
        )

    with pytest.raises(ClientError) as raised:
        asyncio.run(collect(httpx.MockTransport(handler)))
    assert (raised.value.status, raised.value.message) == (404, "deployment 7 not found")


def test_a_server_that_is_not_there_is_not_waited_for():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(ClientError) as raised:
        asyncio.run(collect(httpx.MockTransport(handler)))
    assert raised.value.code == "unreachable"
    assert raised.value.message.startswith("cannot reach http://runway.test")


def test_an_answer_of_another_shape_is_malformed():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>a login page</html>")

    async def ask() -> None:
        async with Client(
            "http://runway.test", "token", transport=httpx.MockTransport(handler)
        ) as c:
            await c.deployment(7)

    with pytest.raises(ClientError) as raised:
        asyncio.run(ask())
    assert raised.value.code == "malformed"


def test_a_stream_that_is_not_an_event_stream_is_malformed():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>\n\n<body>hello</body>\n")

    with pytest.raises(ClientError) as raised:
        asyncio.run(collect(httpx.MockTransport(handler)))
    assert raised.value.code == "malformed"
    assert "is it runway?" in raised.value.message
