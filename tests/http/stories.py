"""Steps the stories of running deployments share: a person with an environment, the blog sent,
waiting for a status, the event stream read and parsed."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from tests.http.worlds import World

EXAMPLES = Path(__file__).parents[2] / "examples"
BLOG = (EXAMPLES / "blog.yaml").read_bytes()
YAML = {"Content-Type": "application/yaml"}
FINAL = {"succeeded", "failed", "cancelled", "superseded"}
PATIENCE = 120.0
"""Seconds a story waits for a deployment (the blog's worker takes minReadySeconds, 10 s)."""


async def person_with_environment(
    world: World, name: str = "bob", env: str = "staging"
) -> httpx.AsyncClient:
    client = await world.as_person(name)
    made = await client.post("/api/v1/environments", json={"name": env})
    assert made.status_code == 201, made.text
    return client


async def send_blog(
    client: httpx.AsyncClient, env: str = "staging", config: bytes = BLOG
) -> dict[str, Any]:
    made = await client.post(
        f"/api/v1/environments/{env}/deployments", content=config, headers=YAML
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


async def wait_for(
    client: httpx.AsyncClient, deployment_id: int, *statuses: str, patience: float = PATIENCE
) -> dict[str, Any]:
    """The deployment once its status is one of `statuses` (fails at once on another final
    status, and after `patience` seconds)."""
    deadline = time.monotonic() + patience
    while True:
        found = (await client.get(f"/api/v1/deployments/{deployment_id}")).json()
        if found["status"] in statuses:
            return dict(found)
        assert found["status"] not in FINAL, found
        assert time.monotonic() < deadline, f"still {found['status']}: {found}"
        await asyncio.sleep(0.05)


@dataclass
class Sent:
    """One event as the stream sent it."""

    id: int
    event: str
    data: dict[str, Any]


def parse_stream(text: str) -> tuple[list[Sent], int]:
    """The events of an event stream, and how many `: ping` comments it held."""
    events, pings = [], 0
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":"):
                pings += line == ": ping"
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
        if fields:
            events.append(Sent(int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events, pings


async def read_events(
    client: httpx.AsyncClient, deployment_id: int, last: int | None = None
) -> tuple[list[Sent], int]:
    headers = {"Last-Event-ID": str(last)} if last is not None else {}
    answer = await client.get(f"/api/v1/deployments/{deployment_id}/events", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    return parse_stream(answer.text)


async def assert_conforms(client: httpx.AsyncClient, schema: str, instance: Any) -> None:
    """`instance` is what the served OpenAPI document says `schema` (a component) is."""
    document = (await client.get("/api/v1/openapi.json")).json()
    wrapper = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    jsonschema.Draft202012Validator(wrapper).validate(instance)
