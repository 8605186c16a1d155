"""Status subresources, pod logs, pods' service accounts, and the bearer token on HTTPS."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import deployment, failure, pod, raw, status_fields

pytestmark = pytest.mark.anyio


async def test_a_status_write_changes_only_status(api, namespace):
    apps = client.AppsV1Api(api)
    created = await apps.create_namespaced_deployment(namespace, deployment("s1", replicas=2))
    patch = {"spec": {"replicas": 5}, "status": {"replicas": 2, "readyReplicas": 1}}
    after = await apps.patch_namespaced_deployment_status("s1", namespace, patch)
    assert after.status.ready_replicas == 1
    assert after.spec.replicas == 2
    assert after.metadata.generation == created.metadata.generation


async def test_status_sent_to_the_main_resource_is_ignored(api, namespace):
    apps = client.AppsV1Api(api)
    body = deployment("s2")
    body["status"] = {"replicas": 7}
    created = await apps.create_namespaced_deployment(namespace, body)
    assert created.status.replicas != 7
    # The Deployment controller may have counted its one replica by now: never the sent 3.
    patched = await apps.patch_namespaced_deployment("s2", namespace, {"status": {"replicas": 3}})
    assert patched.status.replicas != 3


async def test_more_available_replicas_than_replicas_is_invalid(api, namespace):
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(namespace, deployment("s3"))
    patch = {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 3}}
    status, body = await failure(apps.patch_namespaced_deployment_status("s3", namespace, patch))
    assert status == 422
    message, reason, _ = status_fields(body)
    assert reason == "Invalid"
    assert (
        "status.availableReplicas: Invalid value: 3: cannot be greater than status.replicas"
        in message
    )


async def test_pod_logs_are_plain_text_and_missing_pods_404(api, namespace):
    core = client.CoreV1Api(api)
    await core.create_namespaced_pod(namespace, pod("p1"))
    answer = await raw(api, "GET", f"/api/v1/namespaces/{namespace}/pods/p1/log")
    assert answer.status in (200, 400)  # a real cluster says 400 until the container starts
    if answer.status == 200:
        assert answer.body == b""
        assert answer.headers["Content-Type"].startswith("text/plain")
    status, body = await failure(core.read_namespaced_pod_log("nope", namespace))
    assert (status, status_fields(body)) == (404, ('pods "nope" not found', "NotFound", 404))


async def test_pods_need_their_service_account(api, namespace):
    body = pod("p2")
    body["spec"]["serviceAccountName"] = "ghost"
    status, answer = await failure(client.CoreV1Api(api).create_namespaced_pod(namespace, body))
    assert status == 403
    assert status_fields(answer)[0] == (
        f'pods "p2" is forbidden: error looking up service account {namespace}/ghost: '
        'serviceaccount "ghost" not found'
    )


async def test_https_without_the_token_is_401(api, cluster):
    if cluster.flavour == "http":
        pytest.skip(
            "the plain-HTTP simulated cluster takes no credentials, like FACTS.md's minimal kubeconfig"
        )
    answer = await raw(api, "GET", "/api/v1/namespaces", authenticate=False)
    assert answer.status in (401, 403)  # 403: a real cluster with anonymous access
    if cluster.simulated:
        assert answer.status == 401
        assert answer.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
