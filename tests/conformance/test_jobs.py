"""Jobs run pods to completion: `Complete` with `succeeded`, or `Failed` with
`BackoffLimitExceeded` once `backoffLimit` retries of a failing pod are used up."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import job, raw
from tests.conformance.test_workloads import SIMULATED_TAGS, _timeout, conditions, plain, until

pytestmark = pytest.mark.anyio


async def read_job(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    found = await client.BatchV1Api(api).read_namespaced_job(name, namespace)
    return plain(api, found)  # type: ignore[no-any-return]


async def job_pods(api: client.ApiClient, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = await client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"batch.kubernetes.io/job-name={name}"
    )
    return plain(api, listed)["items"]  # type: ignore[no-any-return]


def finished(kind: str) -> Any:
    return lambda obj: (conditions(obj).get(kind) or {}).get("status") == "True"


async def test_a_job_runs_its_pod_to_completion(api, cluster, namespace):
    batch = client.BatchV1Api(api)
    created = await batch.create_namespaced_job(namespace, job("once"))
    done = await until(
        lambda: read_job(api, namespace, "once"),
        finished("Complete"),
        _timeout(cluster),
        "the job to complete",
    )
    status = done["status"]
    assert status["succeeded"] == 1
    assert not status.get("failed")
    assert not status.get("active")
    assert status["startTime"] <= status["completionTime"]
    complete = conditions(done)["Complete"]
    assert complete["status"] == "True"
    assert "Failed" not in conditions(done)
    (pod,) = await job_pods(api, namespace, "once")
    labels = pod["metadata"]["labels"]
    assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == "once"
    (reference,) = pod["metadata"]["ownerReferences"]
    assert (reference["kind"], reference["name"], reference["controller"]) == ("Job", "once", True)
    assert reference["uid"] == created.metadata.uid
    assert pod["status"]["phase"] == "Succeeded"
    (container,) = pod["status"]["containerStatuses"]
    terminated = container["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    if cluster.simulated:
        name = pod["metadata"]["name"]
        answer = await raw(api, "GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log")
        assert answer.status == 200
        assert "busybox:1.36" in answer.body.decode()


async def test_a_failing_job_stops_at_its_backoff_limit(api, cluster, namespace):
    if not cluster.simulated:
        pytest.skip(SIMULATED_TAGS)
    body = job("doomed")
    body["spec"]["backoffLimit"] = 2
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:fail"
    await client.BatchV1Api(api).create_namespaced_job(namespace, body)
    done = await until(
        lambda: read_job(api, namespace, "doomed"),
        finished("Failed"),
        _timeout(cluster),
        "the job to fail",
    )
    failed = conditions(done)["Failed"]
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert "Complete" not in conditions(done)
    assert done["status"]["failed"] == 3
    assert not done["status"].get("succeeded")
    found = await job_pods(api, namespace, "doomed")
    assert len(found) == 3  # backoffLimit + 1
    for pod in found:
        assert pod["status"]["phase"] == "Failed"
        (container,) = pod["status"]["containerStatuses"]
        terminated = container["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
