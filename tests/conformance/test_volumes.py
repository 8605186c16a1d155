"""Volumes: StorageClasses, claims that bind by their class's binding mode, pvc-protection,
expansion, VolumeSnapshots and claims restored from them, and runway's copy Jobs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import raw

pytestmark = pytest.mark.anyio

SNAPSHOTS = "/apis/snapshot.storage.k8s.io/v1"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


async def _read(api: client.ApiClient, path: str) -> dict[str, Any] | None:
    answer = await raw(api, "GET", path)
    if answer.status == 404:
        return None
    assert answer.status == 200, answer.body
    return answer.json()


async def _until(
    api: client.ApiClient,
    path: str,
    check: Callable[[dict[str, Any] | None], bool],
    seconds: float = 10.0,
) -> dict[str, Any] | None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        obj = await _read(api, path)
        if check(obj):
            return obj
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} never got there: {obj}")
        await asyncio.sleep(0.05)


async def _post(api: client.ApiClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await raw(api, "POST", path, body=json.dumps(body).encode())
    assert answer.status == 201, answer.body
    return answer.json()


def _phase(phase: str) -> Callable[[dict[str, Any] | None], bool]:
    return lambda obj: bool(obj and (obj.get("status") or {}).get("phase") == phase)


def _claim(name: str, size: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            **spec,
        },
    }


def _pod(name: str, claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:1.36",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


async def _default_class(api: client.ApiClient) -> dict[str, Any]:
    listed = await _read(api, "/apis/storage.k8s.io/v1/storageclasses")
    assert listed is not None
    defaults = [
        sc
        for sc in listed["items"]
        if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"
    ]
    assert len(defaults) == 1, [sc["metadata"]["name"] for sc in listed["items"]]
    return defaults[0]


async def _immediate_class(api: client.ApiClient) -> str:
    """A StorageClass of the default class's provisioner that binds at once (deleted by no one:
    its name is unique)."""
    provisioner = (await _default_class(api))["provisioner"]
    name = f"conf-now-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": provisioner,
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }
    await _post(api, "/apis/storage.k8s.io/v1/storageclasses", body)
    return name


async def test_a_fresh_cluster_has_one_default_storage_class(api, cluster):
    default = await _default_class(api)
    if cluster.simulated:
        assert default["metadata"]["name"] == "standard"
        assert default["provisioner"] == "runway-sim.io/hostpath"
        assert default["volumeBindingMode"] == "WaitForFirstConsumer"
        assert default["allowVolumeExpansion"] is True
        assert default["reclaimPolicy"] == "Delete"


async def test_a_claim_gets_the_default_class_and_pvc_protection(api, namespace):
    default = await _default_class(api)
    made = await _post(api, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", _claim("d"))
    assert made["spec"]["storageClassName"] == default["metadata"]["name"]
    assert made["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert made["status"] == {"phase": "Pending"}


async def test_wait_for_first_consumer_binds_when_a_pod_uses_the_claim(api, namespace):
    default = await _default_class(api)
    if default["volumeBindingMode"] != "WaitForFirstConsumer":
        pytest.skip("the default StorageClass binds at once")
    claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    await _post(api, claims, _claim("late"))
    await asyncio.sleep(0.3)
    assert (await _read(api, f"{claims}/late") or {})["status"]["phase"] == "Pending"
    await _post(api, f"/api/v1/namespaces/{namespace}/pods", _pod("user", "late"))
    bound = await _until(api, f"{claims}/late", _phase("Bound"), seconds=60)
    assert bound is not None
    volume_name = bound["spec"]["volumeName"]
    assert bound["status"]["capacity"] == {"storage": "1Gi"}
    assert bound["status"]["accessModes"] == ["ReadWriteOnce"]
    assert bound["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    volume = await _read(api, f"/api/v1/persistentvolumes/{volume_name}")
    assert volume is not None
    reference = volume["spec"]["claimRef"]
    assert (reference["namespace"], reference["name"]) == (namespace, "late")
    assert reference["uid"] == bound["metadata"]["uid"]
    assert volume["spec"]["storageClassName"] == default["metadata"]["name"]


async def test_an_immediate_class_binds_at_once_and_the_volume_goes_with_the_claim(api, namespace):
    name = await _immediate_class(api)
    claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    await _post(api, claims, _claim("now", "2Gi", storageClassName=name))
    bound = await _until(api, f"{claims}/now", _phase("Bound"), seconds=60)
    assert bound is not None
    volume_path = f"/api/v1/persistentvolumes/{bound['spec']['volumeName']}"
    volume = await _read(api, volume_path)
    assert volume is not None
    assert volume["spec"]["capacity"] == {"storage": "2Gi"}
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert (await raw(api, "DELETE", f"{claims}/now")).status == 200
    await _until(api, f"{claims}/now", lambda obj: obj is None)
    await _until(api, volume_path, lambda obj: obj is None, seconds=60)


async def test_a_claim_in_use_stays_terminating_until_its_pod_is_gone(api, namespace):
    name = await _immediate_class(api)
    claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    pods = f"/api/v1/namespaces/{namespace}/pods"
    await _post(api, claims, _claim("kept", storageClassName=name))
    await _post(api, pods, _pod("user", "kept"))
    await _until(api, f"{claims}/kept", _phase("Bound"), seconds=60)
    answer = await raw(api, "DELETE", f"{claims}/kept")
    assert answer.status == 200
    assert answer.json()["metadata"]["deletionTimestamp"]
    await asyncio.sleep(0.3)
    terminating = await _read(api, f"{claims}/kept")
    assert terminating is not None
    assert terminating["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert terminating["status"]["phase"] == "Bound"
    await raw(api, "DELETE", f"{pods}/user?gracePeriodSeconds=0")
    await _until(api, f"{claims}/kept", lambda obj: obj is None, seconds=60)


async def test_a_bound_claim_of_an_expandable_class_grows(api, namespace, cluster):
    name = await _immediate_class(api)
    claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    await _post(api, claims, _claim("grow", storageClassName=name))
    await _until(api, f"{claims}/grow", _phase("Bound"), seconds=60)
    patch = b'{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}'
    answer = await raw(
        api,
        "PATCH",
        f"{claims}/grow",
        body=patch,
        content_type="application/merge-patch+json",
    )
    assert answer.status == 200, answer.body
    if cluster.simulated:  # a real resizer may need a pod to finish a filesystem resize
        grown = await _until(
            api,
            f"{claims}/grow",
            lambda obj: bool(obj and obj["status"]["capacity"]["storage"] == "3Gi"),
        )
        assert grown is not None
        volume = await _read(api, f"/api/v1/persistentvolumes/{grown['spec']['volumeName']}")
        assert volume is not None
        assert volume["spec"]["capacity"] == {"storage": "3Gi"}


async def _snapshot_class(api: client.ApiClient, driver: str) -> str | None:
    listed = await _read(api, f"{SNAPSHOTS}/volumesnapshotclasses")
    for snapshot_class in (listed or {}).get("items", []):
        if snapshot_class["driver"] == driver:
            return str(snapshot_class["metadata"]["name"])
    return None


async def test_a_snapshot_becomes_ready_and_a_claim_restores_from_it(api, namespace):
    name = await _immediate_class(api)
    provisioner = (await _default_class(api))["provisioner"]
    snapshot_class = await _snapshot_class(api, provisioner)
    if snapshot_class is None:
        pytest.skip(f"no VolumeSnapshotClass for {provisioner}")
    claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    snapshots = f"{SNAPSHOTS}/namespaces/{namespace}/volumesnapshots"
    await _post(api, claims, _claim("source", storageClassName=name))
    await _until(api, f"{claims}/source", _phase("Bound"), seconds=60)
    snapshot = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": "snap"},
        "spec": {
            "volumeSnapshotClassName": snapshot_class,
            "source": {"persistentVolumeClaimName": "source"},
        },
    }
    await _post(api, snapshots, snapshot)
    ready = await _until(
        api,
        f"{snapshots}/snap",
        lambda obj: bool(obj and (obj.get("status") or {}).get("readyToUse")),
        seconds=60,
    )
    assert ready is not None
    assert ready["status"]["restoreSize"] == "1Gi"
    content_name = ready["status"]["boundVolumeSnapshotContentName"]
    content = await _read(api, f"{SNAPSHOTS}/volumesnapshotcontents/{content_name}")
    assert content is not None
    assert content["spec"]["volumeSnapshotRef"]["name"] == "snap"
    assert content["spec"]["driver"] == provisioner
    assert content["status"]["readyToUse"] is True
    assert content["status"]["restoreSize"] == 1024**3
    source = {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap"}
    await _post(api, claims, _claim("restored", storageClassName=name, dataSource=source))
    restored = await _until(api, f"{claims}/restored", _phase("Bound"), seconds=60)
    assert restored is not None
    assert restored["spec"]["dataSource"] == source


async def test_a_claim_restored_from_a_missing_snapshot_stays_pending(api, namespace, cluster):
    if not cluster.simulated:
        pytest.skip("a real provisioner's wording and retries differ")
    name = await _immediate_class(api)
    claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    source = {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "nope"}
    await _post(api, claims, _claim("orphan", storageClassName=name, dataSource=source))
    await asyncio.sleep(0.3)
    assert (await _read(api, f"{claims}/orphan") or {})["status"]["phase"] == "Pending"


async def test_a_copy_job_is_carried_out_by_the_simulator(api, namespace, cluster):
    if not cluster.simulated:
        pytest.skip("copy Jobs are runway's: a real cluster runs their pods")
    claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    await _post(api, claims, _claim("from"))
    await _post(api, claims, _claim("to"))
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "copy",
            "labels": {"runway.dev/copy": "true"},
            "annotations": {"runway.dev/copy-from": "from", "runway.dev/copy-to": "to"},
        },
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "copy", "image": "busybox:1.36"}],
                }
            }
        },
    }
    await _post(api, f"/apis/batch/v1/namespaces/{namespace}/jobs", job)
    done = await _until(
        api,
        f"/apis/batch/v1/namespaces/{namespace}/jobs/copy",
        lambda obj: any(
            c["type"] == "Complete" and c["status"] == "True"
            for c in ((obj or {}).get("status") or {}).get("conditions") or []
        ),
    )
    assert done is not None
    assert done["status"]["succeeded"] == 1
    for claim in ("from", "to"):  # the Job was their first consumer
        assert (await _read(api, f"{claims}/{claim}") or {})["status"]["phase"] == "Bound"
    events = await _read(api, f"/api/v1/namespaces/{namespace}/events")
    said = [
        e["message"]
        for e in (events or {})["items"]
        if e["involvedObject"]["name"] == "copy" and e["reason"] == "SimulatedCopy"
    ]
    assert len(said) == 1
    assert "copied the volume of PersistentVolumeClaim from to PersistentVolumeClaim to" in said[0]
