"""Deleting: Status answers, propagation policies, and namespaces that terminate."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from tests.conformance.kube import config_map, deployment, failure, job, raw, status_fields

pytestmark = pytest.mark.anyio


async def _gone(read, *args, seconds=10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            await read(*args)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        await asyncio.sleep(0.05)
    return False


async def test_deleting_a_config_map_answers_a_success_status(api, namespace):
    core = client.CoreV1Api(api)
    made = await core.create_namespaced_config_map(namespace, config_map("bye"))
    answer = await core.delete_namespaced_config_map("bye", namespace)
    assert answer.status == "Success"
    assert (answer.details.name, answer.details.kind, answer.details.uid) == (
        "bye",
        "configmaps",
        made.metadata.uid,
    )
    status, _ = await failure(core.read_namespaced_config_map("bye", namespace))
    assert status == 404


async def test_a_stale_precondition_conflicts(api, namespace):
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, config_map("pre"))
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1"))
    status, body = await failure(core.delete_namespaced_config_map("pre", namespace, body=options))
    assert status == 409
    assert status_fields(body)[1] == "Conflict"


async def test_a_job_deleted_in_the_background_is_gone_at_once(api, namespace):
    batch = client.BatchV1Api(api)
    await batch.create_namespaced_job(namespace, job("j2"))
    answer = await batch.delete_namespaced_job("j2", namespace, propagation_policy="Background")
    assert answer.status == "Success"
    assert (answer.details.group, answer.details.kind) == ("batch", "jobs")


async def test_a_job_deleted_without_a_policy_orphans_its_pods_with_a_warning(api, namespace):
    batch = client.BatchV1Api(api)
    await batch.create_namespaced_job(namespace, job("j3"))
    answer = await raw(api, "DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/j3")
    assert answer.status == 200
    deleting = answer.json()
    assert deleting["kind"] == "Job"
    assert deleting["metadata"]["finalizers"] == ["orphan"]
    assert deleting["metadata"]["deletionTimestamp"]
    assert answer.headers.getall("Warning") == [
        '299 - "child pods are preserved by default when jobs are deleted; set '
        "propagationPolicy=Background to remove them or set propagationPolicy=Orphan to "
        'suppress this warning"'
    ]
    # The garbage collector orphans the pods, then the Job goes.
    assert await _gone(batch.read_namespaced_job, "j3", namespace)


async def test_foreground_deletion_removes_dependents_first(api, namespace):
    apps = client.AppsV1Api(api)
    owner = await apps.create_namespaced_deployment(namespace, deployment("owner"))
    child = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name="child",
            owner_references=[
                client.V1OwnerReference(
                    api_version="apps/v1", kind="Deployment", name="owner", uid=owner.metadata.uid
                )
            ],
        ),
        data={"k": "v"},
    )
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, child)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/owner"
    answer = await raw(api, "DELETE", path, body=b'{"propagationPolicy":"Foreground"}')
    deleting = answer.json()["metadata"]
    assert deleting["finalizers"] == ["foregroundDeletion"]
    assert deleting["deletionTimestamp"]
    assert await _gone(core.read_namespaced_config_map, "child", namespace)
    assert await _gone(apps.read_namespaced_deployment, "owner", namespace)


async def test_orphan_deletion_keeps_dependents_without_the_owner(api, namespace):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    owner = await apps.create_namespaced_deployment(namespace, deployment("parent"))
    reference = client.V1OwnerReference(
        api_version="apps/v1", kind="Deployment", name="parent", uid=owner.metadata.uid
    )
    await core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="kept", owner_references=[reference])),
    )
    await apps.delete_namespaced_deployment("parent", namespace, propagation_policy="Orphan")
    assert await _gone(apps.read_namespaced_deployment, "parent", namespace)
    kept = await core.read_namespaced_config_map("kept", namespace)
    assert not kept.metadata.owner_references


async def test_a_deleted_namespace_terminates_then_goes(api, cluster):
    core = client.CoreV1Api(api)
    name = f"conf-t9-{uuid.uuid4().hex[:6]}"
    await core.create_namespace({"metadata": {"name": name}})
    await core.create_namespaced_config_map(name, config_map("c1"))
    # The client types a DELETE's answer as a Status; a namespace's is the Namespace itself.
    deleting = (await raw(api, "DELETE", f"/api/v1/namespaces/{name}")).json()
    assert deleting["kind"] == "Namespace"
    assert deleting["metadata"]["deletionTimestamp"]
    assert deleting["spec"]["finalizers"] == ["kubernetes"]
    assert deleting["status"]["phase"] == "Terminating"
    status, body = await failure(core.create_namespaced_config_map(name, config_map("c2")))
    assert status == 403
    assert status_fields(body) == (
        f'configmaps "c2" is forbidden: unable to create new content in namespace {name} because '
        "it is being terminated",
        "Forbidden",
        403,
    )
    if cluster.simulated:  # a real cluster's controller may have emptied it already
        updated = await core.patch_namespaced_config_map("c1", name, {"data": {"still": "works"}})
        assert updated.data["still"] == "works"
    assert body["details"]["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": f"namespace {name} is being terminated",
            "field": "metadata.namespace",
        }
    ]
    assert await _gone(core.read_namespace, name)
