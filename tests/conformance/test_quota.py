"""ResourceQuota and LimitRange: the quota's status, the refusals quota admission words, and the
LimitRange defaults pods get before their quota is checked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import deployment, failure, job, raw, status_fields

pytestmark = pytest.mark.anyio


async def _read(api: client.ApiClient, path: str) -> dict[str, Any]:
    answer = await raw(api, "GET", path)
    assert answer.status == 200, answer.body
    return answer.json()


async def _quota(api, namespace, hard: dict[str, str], name: str = "q") -> dict[str, Any]:
    """Create a quota and wait until its controller has filled `status.hard` (it counts then)."""
    core = client.CoreV1Api(api)
    body = {"metadata": {"name": name}, "spec": {"hard": hard}}
    await core.create_namespaced_resource_quota(namespace, body)
    return await _settled(api, namespace, name)


async def _settled(api, namespace, name="q", **used: str) -> dict[str, Any]:
    path = f"/api/v1/namespaces/{namespace}/resourcequotas/{name}"
    for _ in range(200):
        quota = await _read(api, path)
        status = quota.get("status") or {}
        if status.get("hard") and all(status.get("used", {}).get(k) == v for k, v in used.items()):
            return quota
        await asyncio.sleep(0.05)
    raise AssertionError(f"quota {name} never settled: {quota.get('status')}")


async def _service_account(api, namespace) -> None:
    core = client.CoreV1Api(api)
    for _ in range(200):
        accounts = await core.list_namespaced_service_account(namespace)
        if any(a.metadata.name == "default" for a in accounts.items):
            return
        await asyncio.sleep(0.05)


def _pod(name: str, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "busybox:1.36"}
    if resources is not None:
        container["resources"] = resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]},
    }


async def test_the_quota_controller_fills_hard_and_used_in_canonical_quantities(api, namespace):
    hard = {"pods": "4", "requests.cpu": "1000m", "limits.memory": "1024Mi", "services": "3"}
    quota = await _quota(api, namespace, hard)
    status = quota["status"]
    assert status["hard"] == {
        "pods": "4",
        "requests.cpu": "1",
        "limits.memory": "1Gi",
        "services": "3",
    }
    assert status["used"] == {
        "pods": "0",
        "requests.cpu": "0",
        "limits.memory": "0",
        "services": "0",
    }


async def test_used_follows_what_is_created(api, namespace):
    await _quota(api, namespace, {"pods": "4", "requests.cpu": "2", "requests.memory": "1Gi"})
    await _service_account(api, namespace)
    core = client.CoreV1Api(api)
    requests = {"requests": {"cpu": "250m", "memory": "128Mi"}}
    await core.create_namespaced_pod(namespace, _pod("a", requests))
    await core.create_namespaced_pod(namespace, _pod("b", requests))
    quota = await _settled(api, namespace, pods="2")
    assert quota["status"]["used"] == {
        "pods": "2",
        "requests.cpu": "500m",
        "requests.memory": "256Mi",
    }


async def test_a_pod_over_the_pods_quota_is_forbidden_with_the_real_message(api, namespace):
    await _quota(api, namespace, {"pods": "1"})
    await _service_account(api, namespace)
    core = client.CoreV1Api(api)
    await core.create_namespaced_pod(namespace, _pod("p1"))
    status, body = await failure(core.create_namespaced_pod(namespace, _pod("p2")))
    assert status == 403
    assert status_fields(body) == (
        'pods "p2" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, '
        "limited: pods=1",
        "Forbidden",
        403,
    )
    assert body["details"] == {"name": "p2", "kind": "pods"}


async def test_a_pod_without_a_cpu_request_under_a_cpu_quota_is_forbidden(api, namespace):
    await _quota(api, namespace, {"requests.cpu": "1"})
    await _service_account(api, namespace)
    core = client.CoreV1Api(api)
    status, body = await failure(core.create_namespaced_pod(namespace, _pod("p1")))
    assert status == 403
    message, reason, _ = status_fields(body)
    assert message == 'pods "p1" is forbidden: failed quota: q: must specify requests.cpu for: c'
    assert reason == "Forbidden"


async def test_requests_over_the_cpu_quota_are_forbidden(api, namespace):
    await _quota(api, namespace, {"requests.cpu": "1", "limits.cpu": "2"})
    await _service_account(api, namespace)
    core = client.CoreV1Api(api)
    big = {"requests": {"cpu": "1500m"}, "limits": {"cpu": "3"}}
    status, body = await failure(core.create_namespaced_pod(namespace, _pod("big", big)))
    assert status == 403
    assert status_fields(body)[0] == (
        'pods "big" is forbidden: exceeded quota: q, requested: limits.cpu=3,requests.cpu=1500m, '
        "used: limits.cpu=0,requests.cpu=0, limited: limits.cpu=2,requests.cpu=1"
    )


async def test_limit_range_defaults_fill_what_a_pod_leaves_out_before_the_quota(api, namespace):
    core = client.CoreV1Api(api)
    limits = {
        "metadata": {"name": "defaults"},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "500m", "memory": "256Mi"},
                    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                }
            ]
        },
    }
    await core.create_namespaced_limit_range(namespace, limits)
    await _quota(api, namespace, {"requests.cpu": "1", "limits.memory": "1Gi"})
    await _service_account(api, namespace)
    await core.create_namespaced_pod(namespace, _pod("plain"))
    pod = await _read(api, f"/api/v1/namespaces/{namespace}/pods/plain")
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; "
        "cpu, memory limit for container c"
    )
    assert pod["status"]["qosClass"] == "Burstable"
    # What the pod sets itself is kept; only the rest is defaulted.
    own = {"requests": {"cpu": "200m"}}
    await core.create_namespaced_pod(namespace, _pod("own", own))
    pod = await _read(api, f"/api/v1/namespaces/{namespace}/pods/own")
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "200m",
        "memory": "128Mi",
    }


async def test_claims_count_against_storage_and_claim_quotas(api, namespace):
    await _quota(api, namespace, {"requests.storage": "2Gi", "persistentvolumeclaims": "2"})
    core = client.CoreV1Api(api)

    def claim(name: str, size: str) -> dict[str, Any]:
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
        return {"metadata": {"name": name}, "spec": spec}

    await core.create_namespaced_persistent_volume_claim(namespace, claim("one", "1Gi"))
    await _settled(api, namespace, persistentvolumeclaims="1")
    status, body = await failure(
        core.create_namespaced_persistent_volume_claim(namespace, claim("big", "2Gi"))
    )
    assert status == 403
    assert status_fields(body)[0] == (
        'persistentvolumeclaims "big" is forbidden: exceeded quota: q, requested: '
        "requests.storage=2Gi, used: requests.storage=1Gi, limited: requests.storage=2Gi"
    )
    await core.create_namespaced_persistent_volume_claim(namespace, claim("two", "1Gi"))
    status, body = await failure(
        core.create_namespaced_persistent_volume_claim(namespace, claim("three", "1Mi"))
    )
    assert status == 403
    assert "requested: persistentvolumeclaims=1,requests.storage=1Mi" in body["message"]
    assert "limited: persistentvolumeclaims=2,requests.storage=2Gi" in body["message"]


async def test_node_ports_and_load_balancers_count_against_their_quotas(api, namespace):
    await _quota(api, namespace, {"services.nodeports": "0", "services.loadbalancers": "0"})
    core = client.CoreV1Api(api)

    def service(name: str, kind: str) -> dict[str, Any]:
        spec = {"type": kind, "selector": {"app": name}, "ports": [{"port": 80}]}
        return {"metadata": {"name": name}, "spec": spec}

    await core.create_namespaced_service(namespace, service("inside", "ClusterIP"))
    status, body = await failure(
        core.create_namespaced_service(namespace, service("np", "NodePort"))
    )
    assert (status, body["message"]) == (
        403,
        'services "np" is forbidden: exceeded quota: q, requested: services.nodeports=1, '
        "used: services.nodeports=0, limited: services.nodeports=0",
    )
    status, body = await failure(
        core.create_namespaced_service(namespace, service("lb", "LoadBalancer"))
    )
    assert status == 403
    assert body["message"] == (
        'services "lb" is forbidden: exceeded quota: q, requested: '
        "services.loadbalancers=1,services.nodeports=1, used: "
        "services.loadbalancers=0,services.nodeports=0, limited: "
        "services.loadbalancers=0,services.nodeports=0"
    )


async def test_a_deployment_over_quota_shows_replica_failure(api, namespace):
    await _quota(api, namespace, {"pods": "1"})
    await _service_account(api, namespace)
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    for _ in range(200):
        conditions = (await _read(api, path)).get("status", {}).get("conditions") or []
        failed = [c for c in conditions if c["type"] == "ReplicaFailure"]
        if failed:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"no ReplicaFailure condition: {conditions}")
    assert failed[0]["status"] == "True"
    assert failed[0]["reason"] == "FailedCreate"
    assert (
        "is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"
        in (failed[0]["message"])
    )


async def _refusals(api, namespace: str, kind: str) -> list[dict[str, Any]]:
    events = (await _read(api, f"/api/v1/namespaces/{namespace}/events"))["items"]
    return [
        e for e in events if e["reason"] == "FailedCreate" and e["involvedObject"]["kind"] == kind
    ]


async def _settles(api, path: str, seconds: float = 3.0) -> tuple[int, int]:
    """How many distinct resourceVersions an object shows over `seconds`, and the last one."""
    seen: set[str] = set()
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        seen.add((await _read(api, path))["metadata"]["resourceVersion"])
        await asyncio.sleep(0.1)
    return len(seen), int(max(seen, key=int))


async def test_a_deployment_over_quota_settles_and_its_refusals_are_aggregated(
    api, cluster, namespace
):
    """Refused creations are retried with a back-off: the Deployment's status stops changing
    and the FailedCreate Events are counted, not repeated (no hot loop)."""
    await _quota(api, namespace, {"pods": "1"})
    await _service_account(api, namespace)
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(namespace, deployment("web", replicas=3))
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    for _ in range(200):
        conditions = (await _read(api, path)).get("status", {}).get("conditions") or []
        if any(c["type"] == "ReplicaFailure" for c in conditions):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"no ReplicaFailure condition: {conditions}")
    await asyncio.sleep(1.0)  # the first pod's own progress (ready, available) comes through
    versions, _ = await _settles(api, path)
    assert versions <= 3, f"the Deployment changed {versions} times in 3 s"
    failed = [
        c for c in (await _read(api, path))["status"]["conditions"] if c["type"] == "ReplicaFailure"
    ]
    assert failed and failed[0]["reason"] == "FailedCreate"
    assert (
        "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"
        in (failed[0]["message"])
    )
    refusals = await _refusals(api, namespace, "ReplicaSet")
    assert refusals
    # A real cluster's correlator folds similar events after 10; the simulator at once.
    assert len(refusals) <= (1 if cluster.simulated else 11), refusals
    assert all(e["message"].startswith("Error creating: pods ") for e in refusals)
    if cluster.simulated:
        assert refusals[0]["count"] >= 2  # retried at least once in 4 s (1 s, then 2 s)
        assert refusals[0]["count"] <= 5  # ... but with a back-off, not hundreds of times
        assert refusals[0]["lastTimestamp"] >= refusals[0]["firstTimestamp"]


async def test_a_job_over_quota_retries_with_a_back_off(api, cluster, namespace):
    await _quota(api, namespace, {"pods": "0"})
    await _service_account(api, namespace)
    batch = client.BatchV1Api(api)
    await batch.create_namespaced_job(namespace, job("work"))
    for _ in range(200):
        refusals = await _refusals(api, namespace, "Job")
        if refusals:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no FailedCreate event about the Job")
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/work"
    versions, _ = await _settles(api, path)
    assert versions <= 2, f"the Job changed {versions} times in 3 s"
    refusals = await _refusals(api, namespace, "Job")
    assert len(refusals) <= (1 if cluster.simulated else 11), refusals
    assert (
        "exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"
        in (refusals[0]["message"])
    )
    if cluster.simulated:
        assert 2 <= refusals[0]["count"] <= 4


async def test_a_stateful_set_claim_refused_by_quota_is_retried(api, cluster, namespace):
    """A claim the quota refuses is not forgotten: once the quota allows it, the claim and then
    the pod are created (the controller retries with a back-off)."""
    await _quota(api, namespace, {"persistentvolumeclaims": "0"})
    await _service_account(api, namespace)
    labels = {"app": "db"}
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 1,
            "serviceName": "db",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "db",
                            "image": "busybox:1.36",
                            "command": ["sleep", "3600"],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ],
                    "terminationGracePeriodSeconds": 0,
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Mi"}},
                    },
                }
            ],
        },
    }
    await client.AppsV1Api(api).create_namespaced_stateful_set(namespace, body)
    for _ in range(200):
        refusals = await _refusals(api, namespace, "StatefulSet")
        if refusals:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no FailedCreate event about the StatefulSet")
    assert "data-db-0" in refusals[0]["message"]
    assert "exceeded quota: q" in refusals[0]["message"]
    pods = f"/api/v1/namespaces/{namespace}/pods"
    assert (await _read(api, pods))["items"] == []
    core = client.CoreV1Api(api)
    await core.patch_namespaced_resource_quota(
        "q", namespace, {"spec": {"hard": {"persistentvolumeclaims": "1"}}}
    )
    claim = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/data-db-0"
    for _ in range(600 if cluster.simulated else 3600):
        if (await raw(api, "GET", claim)).status == 200 and (await _read(api, pods))["items"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the claim and pod were never created once the quota allowed it")


async def test_object_counts_are_limited_by_count_quotas(api, namespace):
    await _quota(api, namespace, {"count/secrets": "1", "count/deployments.apps": "5"})
    core = client.CoreV1Api(api)
    await core.create_namespaced_secret(namespace, {"metadata": {"name": "s1"}})
    quota = await _settled(api, namespace, **{"count/secrets": "1"})
    assert quota["status"]["used"]["count/deployments.apps"] == "0"
    status, body = await failure(
        core.create_namespaced_secret(namespace, {"metadata": {"name": "s2"}})
    )
    assert (status, body["message"]) == (
        403,
        'secrets "s2" is forbidden: exceeded quota: q, requested: count/secrets=1, '
        "used: count/secrets=1, limited: count/secrets=1",
    )
