"""Small helpers the conformance tests share: raw requests, Status bodies, manifests."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


@dataclass
class Raw:
    """A response read whole: status, headers, body."""

    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]


async def raw(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    authenticate: bool = True,
) -> Raw:
    """A request through the client's own session (TLS, token), with a body sent as given."""
    sent = {"Content-Type": content_type, **(headers or {})}
    if authenticate:
        await api.update_params_for_auth(sent, [], ["BearerToken"])
    response = await api.rest_client.pool_manager.request(
        method, api.configuration.host + path, data=body, headers=sent
    )
    async with response:
        return Raw(response.status, response.headers, await response.read())


async def first_event(api: client.ApiClient, path: str) -> tuple[int, dict[str, Any]]:
    """The status and first line of a watch, read without waiting for the watch to end."""
    sent: dict[str, str] = {}
    await api.update_params_for_auth(sent, [], ["BearerToken"])
    response = await api.rest_client.pool_manager.request(
        "GET", api.configuration.host + path, headers=sent
    )
    async with response:
        return response.status, json.loads(await response.content.readline())


async def failure(call: Awaitable[Any]) -> tuple[int, dict[str, Any]]:
    """The status code and Status body of a call that must fail."""
    try:
        await call
    except ApiException as error:
        return error.status, json.loads(error.body)
    raise AssertionError("the call succeeded; a refusal was expected")


def status_fields(status: dict[str, Any]) -> tuple[str, str | None, int]:
    assert status["kind"] == "Status"
    assert status["apiVersion"] == "v1"
    assert status["status"] == "Failure"
    return status["message"], status.get("reason"), status["code"]


def deployment(
    name: str, *, replicas: int | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    selector = labels or {"app": name}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": selector},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def config_map(name: str, data: dict[str, str] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **metadata},
        "data": data or {"key": "value"},
    }


def job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "run", "image": "busybox:1.36", "command": ["true"]}],
                }
            }
        },
    }


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }
