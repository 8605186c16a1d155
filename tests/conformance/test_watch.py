"""Watches as clients consume them: events, resuming, 410 Expired, bookmarks, timeouts."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.rest import ApiException

from tests.conformance.kube import config_map, raw

pytestmark = pytest.mark.anyio


async def _events(api, namespace, count, **options):
    core = client.CoreV1Api(api)
    seen = []
    async with watch.Watch().stream(
        core.list_namespaced_config_map, namespace, timeout_seconds=10, **options
    ) as stream:
        async for event in stream:
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == count:
                break
    return seen


async def _drain(api, namespace, **options):
    core = client.CoreV1Api(api)
    async with watch.Watch().stream(
        core.list_namespaced_config_map, namespace, **options
    ) as stream:
        async for _ in stream:
            pass


async def test_added_modified_deleted_stream_as_they_happen(api, namespace):
    core = client.CoreV1Api(api)
    start = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    watching = asyncio.create_task(_events(api, namespace, 3, resource_version=start))
    await asyncio.sleep(0.2)
    await core.create_namespaced_config_map(namespace, config_map("w"))
    await core.patch_namespaced_config_map("w", namespace, {"data": {"key": "changed"}})
    await core.delete_namespaced_config_map("w", namespace)
    assert await asyncio.wait_for(watching, 10) == [
        ("ADDED", "w"),
        ("MODIFIED", "w"),
        ("DELETED", "w"),
    ]


async def test_a_watch_resumes_from_a_resource_version(api, namespace):
    core = client.CoreV1Api(api)
    created = await core.create_namespaced_config_map(namespace, config_map("r"))
    await core.patch_namespaced_config_map("r", namespace, {"data": {"key": "2"}})
    await core.create_namespaced_config_map(namespace, config_map("s"))
    seen = await _events(api, namespace, 2, resource_version=created.metadata.resource_version)
    assert seen == [("MODIFIED", "r"), ("ADDED", "s")]


async def test_a_watch_without_a_version_starts_with_the_current_objects(api, namespace):
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, config_map("now"))
    assert await _events(api, namespace, 1, field_selector="metadata.name=now") == [
        ("ADDED", "now")
    ]


async def test_a_too_old_version_is_200_then_one_error_line(api, namespace):
    answer = await raw(
        api, "GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion=1"
    )
    assert answer.status == 200
    [event] = answer.lines()
    assert event["type"] == "ERROR"
    error = event["object"]
    assert (error["kind"], error["status"], error["reason"], error["code"]) == (
        "Status",
        "Failure",
        "Expired",
        410,
    )
    assert re.fullmatch(r"too old resource version: 1 \(\d+\)", error["message"])
    with pytest.raises(ApiException) as raised:
        await _drain(api, namespace, resource_version="1", timeout_seconds=5)
    assert raised.value.status == 410  # kubernetes-asyncio turns the ERROR line into an exception


async def test_a_too_old_exact_list_is_410(api, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps?resourceVersion=1&resourceVersionMatch=Exact"
    answer = await raw(api, "GET", path)
    assert answer.status == 410
    body = answer.json()
    assert (body["message"], body["reason"]) == (
        "The resourceVersion for the provided list is too old.",
        "Expired",
    )


async def test_bookmarks_arrive_before_the_timeout(api, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=3"
    sent = {}
    await api.update_params_for_auth(sent, [], ["BearerToken"])
    async with api.rest_client.pool_manager.request(
        "GET", api.configuration.host + path, headers=sent
    ) as response:
        event = json.loads(await asyncio.wait_for(response.content.readline(), 5))
    assert event["type"] == "BOOKMARK"
    assert (event["object"]["kind"], event["object"]["apiVersion"]) == ("ConfigMap", "v1")
    assert int(event["object"]["metadata"]["resourceVersion"]) > 0


async def test_a_watch_ends_at_its_timeout(api, namespace):
    started = time.monotonic()
    answer = await raw(
        api, "GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=1&timeoutSeconds=1"
    )
    assert answer.status == 200
    assert answer.lines() == []
    assert 0.9 <= time.monotonic() - started < 5


async def test_an_object_leaving_a_selector_is_deleted_for_the_watch(api, namespace):
    core = client.CoreV1Api(api)
    start = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    watching = asyncio.create_task(
        _events(api, namespace, 2, resource_version=start, label_selector="tier=web")
    )
    await asyncio.sleep(0.2)
    await core.create_namespaced_config_map(namespace, config_map("sel", labels={"tier": "web"}))
    await core.patch_namespaced_config_map(
        "sel", namespace, {"metadata": {"labels": {"tier": "db"}}}
    )
    assert await asyncio.wait_for(watching, 10) == [("ADDED", "sel"), ("DELETED", "sel")]
