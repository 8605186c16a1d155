"""What a pod refers to: a missing Secret or ConfigMap (or key) keeps its container from being
created (`CreateContainerConfigError`, retried until it appears); a missing claim keeps it from
being scheduled; a missing imagePullSecret is only a warning."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import raw

pytestmark = pytest.mark.anyio


def _timeout(cluster: Any) -> float:
    return 15.0 if cluster.simulated else 180.0


async def _read_pod(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    answer = await raw(api, "GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
    assert answer.status == 200, answer.body
    return answer.json()  # type: ignore[no-any-return]


async def _until_pod(api, cluster, namespace, name, check, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + _timeout(cluster)
    while True:
        pod = await _read_pod(api, namespace, name)
        if check(pod):
            return pod
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {pod.get('status')}")
        await asyncio.sleep(0.1)


async def _create_pod(api, namespace: str, name: str, **extra: Any) -> None:
    core = client.CoreV1Api(api)
    for _ in range(200):  # the namespace's default ServiceAccount comes first
        accounts = await core.list_namespaced_service_account(namespace)
        if any(a.metadata.name == "default" for a in accounts.items):
            break
        await asyncio.sleep(0.05)
    container: dict[str, Any] = {
        "name": "main",
        "image": "busybox:1.36",
        "command": ["sleep", "3600"],
    }
    container.update(extra.pop("container", {}))
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 0, **extra},
    }
    await core.create_namespaced_pod(namespace, body)


def _waiting(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        return (status.get("state") or {}).get("waiting") or {}  # type: ignore[no-any-return]
    return {}


def _config_error(message: str):
    def check(pod: dict[str, Any]) -> bool:
        waiting = _waiting(pod)
        return waiting.get("reason") == "CreateContainerConfigError" and (
            waiting.get("message") == message
        )

    return check


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


async def test_a_missing_secret_or_key_is_a_create_container_config_error_until_it_appears(
    api, cluster, namespace
):
    env = [
        {
            "name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "missing", "key": "password"}},
        }
    ]
    await _create_pod(api, namespace, "p", container={"env": env})
    pod = await _until_pod(
        api,
        cluster,
        namespace,
        "p",
        _config_error('secret "missing" not found'),
        "CreateContainerConfigError",
    )
    assert pod["status"]["phase"] == "Pending"
    core = client.CoreV1Api(api)
    await core.create_namespaced_secret(
        namespace, {"metadata": {"name": "missing"}, "stringData": {"other": "x"}}
    )
    await _until_pod(
        api,
        cluster,
        namespace,
        "p",
        _config_error(f"couldn't find key password in Secret {namespace}/missing"),
        "the missing key",
    )
    await core.patch_namespaced_secret(
        "missing", namespace, {"stringData": {"password": "hunter2"}}
    )
    await _until_pod(api, cluster, namespace, "p", _ready, "the pod ready once the key exists")


async def test_a_missing_config_map_is_a_create_container_config_error(api, cluster, namespace):
    container = {
        "envFrom": [{"configMapRef": {"name": "settings"}}],
        "env": [
            {
                "name": "MODE",
                "valueFrom": {"configMapKeyRef": {"name": "other", "key": "mode"}},
            },
            {
                "name": "OPTIONAL",
                "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": True}},
            },
        ],
    }
    await _create_pod(api, namespace, "p", container=container)
    await _until_pod(
        api,
        cluster,
        namespace,
        "p",
        _config_error('configmap "settings" not found'),
        "CreateContainerConfigError",
    )
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}})
    await core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "other"}, "data": {"mode": "fast"}}
    )
    await _until_pod(api, cluster, namespace, "p", _ready, "the pod ready once both exist")


async def test_a_pod_whose_claim_is_missing_stays_pending_unschedulable(api, cluster, namespace):
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "nope"}}]
    await _create_pod(
        api,
        namespace,
        "p",
        volumes=volumes,
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )

    def unschedulable(pod: dict[str, Any]) -> bool:
        return any(
            c["type"] == "PodScheduled" and c["status"] == "False"
            for c in (pod.get("status") or {}).get("conditions") or ()
        )

    pod = await _until_pod(api, cluster, namespace, "p", unschedulable, "PodScheduled=False")
    await asyncio.sleep(1.5)  # and it stays so
    pod = await _read_pod(api, namespace, "p")
    assert pod["status"]["phase"] == "Pending"
    (scheduled,) = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert 'persistentvolumeclaim "nope" not found' in scheduled["message"]
    assert not pod["status"].get("containerStatuses")


async def test_a_missing_image_pull_secret_is_only_a_warning(api, cluster, namespace):
    await _create_pod(api, namespace, "p", imagePullSecrets=[{"name": "ghost"}])
    await _until_pod(api, cluster, namespace, "p", _ready, "the pod ready")
    answer = await raw(api, "GET", f"/api/v1/namespaces/{namespace}/events")
    events = [
        e
        for e in answer.json()["items"]
        if e["reason"] == "FailedToRetrieveImagePullSecret" and e["involvedObject"]["name"] == "p"
    ]
    assert events, "no FailedToRetrieveImagePullSecret event"
    assert events[0]["type"] == "Warning"
    assert "ghost" in events[0]["message"]
