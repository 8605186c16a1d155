"""Workloads as controllers leave them: Deployments roll out through ReplicaSets, pods start or
fail by their images, StatefulSets come up in order, deleted pods are replaced.

Images with the simulated tags (`:crash`) behave so only on the simulator: those tests skip on a
real cluster. `:pullfail` cannot be pulled anywhere, so that one runs on both.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client, watch

from tests.conformance.kube import deployment, raw

pytestmark = pytest.mark.anyio

SIMULATED_TAGS = "relies on a simulated image tag (DESIGN.md: Testing), which a real cluster pulls"


def _timeout(cluster: Any) -> float:
    return 15.0 if cluster.simulated else 180.0


async def until(
    read: Callable[[], Awaitable[Any]],
    check: Callable[[Any], bool],
    timeout: float,
    what: str = "the expected state",
) -> Any:
    """Poll `read` until `check` holds; the last value read is in the failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {value}")
        await asyncio.sleep(0.1)


def plain(api: client.ApiClient, model: Any) -> Any:
    """A model as the JSON the server sent (camelCase keys)."""
    return api.sanitize_for_serialization(model)


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or ()}


def rolled_out(obj: dict[str, Any]) -> bool:
    status, spec = obj.get("status") or {}, obj["spec"]
    progressing = conditions(obj).get("Progressing") or {}
    return (
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and status.get("updatedReplicas") == spec["replicas"]
        and status.get("replicas") == spec["replicas"]
        and status.get("availableReplicas") == spec["replicas"]
        and progressing.get("reason") == "NewReplicaSetAvailable"
    )


async def get(api: client.ApiClient, path: str) -> Any:
    """A GET read as JSON: status objects just created can lack what the client's models require
    (`replicas` of a ReplicaSet), so reads that race the controllers avoid the models."""
    answer = await raw(api, "GET", path)
    assert answer.status == 200, answer.body
    return answer.json()


async def read_deployment(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return await get(api, f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")  # type: ignore[no-any-return]


async def replica_sets(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    return (await get(api, f"/apis/apps/v1/namespaces/{namespace}/replicasets"))["items"]  # type: ignore[no-any-return]


async def pods(api: client.ApiClient, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    listed = await client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector)
    return plain(api, listed)["items"]  # type: ignore[no-any-return]


def owner(obj: dict[str, Any]) -> dict[str, Any]:
    (reference,) = [r for r in obj["metadata"].get("ownerReferences") or () if r.get("controller")]
    return reference  # type: ignore[no-any-return]


async def rollout(api: client.ApiClient, cluster: Any, namespace: str, name: str) -> Any:
    return await until(
        lambda: read_deployment(api, namespace, name),
        rolled_out,
        _timeout(cluster),
        f"deployment {name} to roll out",
    )


async def create_statefulset(
    api: client.ApiClient, namespace: str, name: str, replicas: int
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A StatefulSet of `replicas` nginx:1.27 pods labelled `app: name`; how to read it again.
    Sent raw: the simulator's new StatefulSet has an empty status, which the client's model
    refuses (a real server sends `replicas: 0`)."""
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
        },
    }
    path = f"/apis/apps/v1/namespaces/{namespace}/statefulsets"
    created = await raw(api, "POST", path, body=json.dumps(body).encode())
    assert created.status == 201, created.body
    return lambda: get(api, f"{path}/{name}")


def settled(replicas: int) -> Callable[[dict[str, Any]], bool]:
    """A StatefulSet whose `replicas` pods are all ready and of its current template."""

    def check(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return (
            status.get("observedGeneration") == obj["metadata"]["generation"]
            and status.get("readyReplicas") == replicas
            and status.get("updatedReplicas") == replicas
            and status.get("currentRevision") == status.get("updateRevision")
        )

    return check


async def create_crashing(api: client.ApiClient, cluster: Any, namespace: str) -> None:
    """Deployment `crash`: one pod whose container (`nginx:crash`) exits at once, every time.
    Skips the test on a real cluster, which would pull that tag."""
    if not cluster.simulated:
        pytest.skip(SIMULATED_TAGS)
    body = deployment("crash", replicas=1)
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:crash"
    await client.AppsV1Api(api).create_namespaced_deployment(namespace, body)


def container_statuses(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for p in found for c in p["status"].get("containerStatuses") or ()]


async def test_a_deployment_rolls_out_through_a_replica_set(api, cluster, namespace):
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    done = await rollout(api, cluster, namespace, "web")
    status = done["status"]
    assert status["observedGeneration"] == 1
    assert (status["replicas"], status["updatedReplicas"]) == (2, 2)
    assert (status["readyReplicas"], status["availableReplicas"]) == (2, 2)
    assert not status.get("unavailableReplicas")
    found = conditions(done)
    assert (found["Available"]["status"], found["Available"]["reason"]) == (
        "True",
        "MinimumReplicasAvailable",
    )
    assert found["Progressing"]["status"] == "True"
    (rs,) = await replica_sets(api, namespace)
    digest = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{digest}"
    assert owner(rs)["uid"] == done["metadata"]["uid"]
    assert owner(rs)["kind"] == "Deployment"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert (
        f'ReplicaSet "web-{digest}" has successfully progressed.'
        == (found["Progressing"]["message"])
    )
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": digest}
    assert rs["status"]["readyReplicas"] == 2
    running = await pods(api, namespace, "app=web")
    assert len(running) == 2
    for pod in running:
        assert owner(pod)["uid"] == rs["metadata"]["uid"]
        assert pod["metadata"]["labels"]["pod-template-hash"] == digest
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"]
        assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}.items() >= {
            "PodScheduled": "True",
            "Initialized": "True",
            "ContainersReady": "True",
            "Ready": "True",
        }.items()
        (container,) = pod["status"]["containerStatuses"]
        assert (container["ready"], container["started"], container["restartCount"]) == (
            True,
            True,
            0,
        )
        assert "running" in container["state"]


async def test_a_changed_image_makes_a_new_replica_set_and_rolls(api, cluster, namespace):
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(namespace, deployment("roll", replicas=2))
    await rollout(api, cluster, namespace, "roll")
    (first,) = await replica_sets(api, namespace)
    # The same template again changes nothing: no new ReplicaSet, no new generation.
    again = await apps.patch_namespaced_deployment(
        "roll", namespace, {"spec": {"template": {"metadata": {"labels": {"app": "roll"}}}}}
    )
    assert again.metadata.generation == 1
    assert [rs["metadata"]["name"] for rs in await replica_sets(api, namespace)] == [
        first["metadata"]["name"]
    ]
    image = {
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}
    }
    await apps.patch_namespaced_deployment("roll", namespace, image)
    done = await rollout(api, cluster, namespace, "roll")
    assert done["status"]["observedGeneration"] == 2
    sets = {rs["metadata"]["name"]: rs for rs in await replica_sets(api, namespace)}
    assert len(sets) == 2
    old = sets.pop(first["metadata"]["name"])
    (new,) = sets.values()
    assert old["spec"]["replicas"] == 0
    assert new["spec"]["replicas"] == 2
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    digest = new["metadata"]["labels"]["pod-template-hash"]
    current = await until(
        lambda: pods(api, namespace, "app=roll"),
        lambda found: len(found) == 2,
        _timeout(cluster),
        "the old pods to go",
    )
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in current} == {digest}


async def test_recreate_removes_old_pods_before_new_ones_start(api, cluster, namespace):
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    body = deployment("rec", replicas=2)
    body["spec"]["strategy"] = {"type": "Recreate"}
    await apps.create_namespaced_deployment(namespace, body)
    await rollout(api, cluster, namespace, "rec")
    old = {p["metadata"]["name"] for p in await pods(api, namespace, "app=rec")}
    start = (await core.list_namespaced_pod(namespace)).metadata.resource_version
    events: list[tuple[str, str]] = []

    async def follow() -> None:
        async with watch.Watch().stream(
            core.list_namespaced_pod,
            namespace,
            resource_version=start,
            timeout_seconds=int(_timeout(cluster)),
        ) as stream:
            async for event in stream:
                events.append((event["type"], event["object"].metadata.name))

    following = asyncio.create_task(follow())
    await asyncio.sleep(0.2)
    image = {
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}
    }
    await apps.patch_namespaced_deployment("rec", namespace, image)
    await rollout(api, cluster, namespace, "rec")
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    deleted = [i for i, (kind, name) in enumerate(events) if kind == "DELETED" and name in old]
    added = [i for i, (kind, name) in enumerate(events) if kind == "ADDED" and name not in old]
    assert len(deleted) == 2 and len(added) == 2, events
    assert max(deleted) < min(added), events


async def test_an_image_that_cannot_be_pulled_backs_off(api, cluster, namespace):
    apps = client.AppsV1Api(api)
    body = deployment("pull", replicas=1)
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:pullfail"
    await apps.create_namespaced_deployment(namespace, body)
    seen: set[str] = set()

    def reasons(found: list[dict[str, Any]]) -> bool:
        for container in container_statuses(found):
            waiting = container["state"].get("waiting") or {}
            seen.add(waiting.get("reason", ""))
        return "ImagePullBackOff" in seen

    found = await until(
        lambda: pods(api, namespace, "app=pull"), reasons, _timeout(cluster), "ImagePullBackOff"
    )
    assert seen & {"ErrImagePull", "ImagePullBackOff"}
    (pod,) = found
    assert pod["status"]["phase"] == "Pending"
    (container,) = pod["status"]["containerStatuses"]
    assert (container["ready"], container["restartCount"]) == (False, 0)
    assert "nginx:pullfail" in container["state"]["waiting"]["message"]
    done = await read_deployment(api, namespace, "pull")
    assert conditions(done)["Available"]["status"] == "False"
    assert conditions(done)["Available"]["reason"] == "MinimumReplicasUnavailable"
    assert done["status"]["unavailableReplicas"] == 1
    assert not done["status"].get("availableReplicas")


async def test_a_crashing_image_loops_with_restarts_and_a_log(api, cluster, namespace):
    await create_crashing(api, cluster, namespace)

    def looping(found: list[dict[str, Any]]) -> bool:
        return any(
            c["restartCount"] >= 2
            and (c["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff"
            for c in container_statuses(found)
        )

    (pod,) = await until(
        lambda: pods(api, namespace, "app=crash"), looping, _timeout(cluster), "a crash loop"
    )
    (container,) = pod["status"]["containerStatuses"]
    assert pod["status"]["phase"] == "Running"
    assert container["ready"] is False
    terminated = container["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
    message = container["state"]["waiting"]["message"]
    assert message.startswith("back-off ")
    assert f"restarting failed container=web pod={pod['metadata']['name']}_{namespace}(" in message
    name = pod["metadata"]["name"]
    answer = await raw(api, "GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert "simulated crash of nginx:crash" in answer.body.decode()
    text = await client.CoreV1Api(api).read_namespaced_pod_log(name, namespace)
    assert "simulated crash of nginx:crash" in text
    done = await read_deployment(api, namespace, "crash")
    assert conditions(done)["Available"]["status"] == "False"


async def test_a_restarted_container_logs_only_its_current_run(api, cluster, namespace):
    """`pods/log` is the current (or last) run's output; `previous=true` the run before."""
    await create_crashing(api, cluster, namespace)

    def restarted(found: list[dict[str, Any]]) -> bool:
        return any(c["restartCount"] >= 3 for c in container_statuses(found))

    (pod,) = await until(
        lambda: pods(api, namespace, "app=crash"), restarted, _timeout(cluster), "3 restarts"
    )
    path = f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/log"
    line = "simulated crash of nginx:crash: exiting with code 1\n"
    current = await raw(api, "GET", path)
    previous = await raw(api, "GET", f"{path}?previous=true")
    assert (current.status, previous.status) == (200, 200)
    assert current.body.decode() == line
    assert previous.body.decode() == line


async def test_an_invalid_image_name_is_reported(api, cluster, namespace):
    core = client.CoreV1Api(api)
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad"},
        "spec": {"containers": [{"name": "main", "image": "Nginx:UPPER"}]},
    }
    await core.create_namespaced_pod(namespace, body)

    async def read() -> dict[str, Any]:
        return plain(api, await core.read_namespaced_pod("bad", namespace))  # type: ignore[no-any-return]

    def invalid(pod: dict[str, Any]) -> bool:
        statuses = pod["status"].get("containerStatuses") or ()
        return any(
            (c["state"].get("waiting") or {}).get("reason") == "InvalidImageName" for c in statuses
        )

    pod = await until(read, invalid, _timeout(cluster), "InvalidImageName")
    assert pod["status"]["phase"] == "Pending"


async def test_a_deleted_pod_is_replaced(api, cluster, namespace):
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    await apps.create_namespaced_deployment(namespace, deployment("keep", replicas=2))
    await rollout(api, cluster, namespace, "keep")
    before = {p["metadata"]["name"] for p in await pods(api, namespace, "app=keep")}
    victim = sorted(before)[0]
    await core.delete_namespaced_pod(victim, namespace)

    def replaced(found: list[dict[str, Any]]) -> bool:
        names = {p["metadata"]["name"] for p in found}
        return len(names) == 2 and victim not in names

    found = await until(
        lambda: pods(api, namespace, "app=keep"), replaced, _timeout(cluster), "a replacement"
    )
    assert len({p["metadata"]["name"] for p in found} - before) == 1
    await rollout(api, cluster, namespace, "keep")


async def test_a_refused_pod_shows_as_replica_failure(api, cluster, namespace):
    """Pods refused by admission (here: a missing ServiceAccount) are conditions, not errors."""
    apps = client.AppsV1Api(api)
    body = deployment("refused", replicas=1)
    body["spec"]["template"]["spec"]["serviceAccountName"] = "ghost"
    await apps.create_namespaced_deployment(namespace, body)

    def failing(obj: dict[str, Any]) -> bool:
        return "ReplicaFailure" in conditions(obj)

    done = await until(
        lambda: read_deployment(api, namespace, "refused"),
        failing,
        _timeout(cluster),
        "ReplicaFailure",
    )
    failure = conditions(done)["ReplicaFailure"]
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert "is forbidden: error looking up service account" in failure["message"]
    assert f"{namespace}/ghost" in failure["message"]
    (rs,) = await replica_sets(api, namespace)
    rs_failure = conditions(rs)["ReplicaFailure"]
    assert rs_failure["reason"] == "FailedCreate"
    tail = failure["message"].split(" is forbidden: ", 1)[1]  # the pod's name varies by attempt
    assert rs_failure["message"].endswith(f" is forbidden: {tail}")
    assert await pods(api, namespace, "app=refused") == []
    events = (await get(api, f"/api/v1/namespaces/{namespace}/events"))["items"]
    refusals = [
        e
        for e in events
        if e["involvedObject"]["name"] == rs["metadata"]["name"] and e["reason"] == "FailedCreate"
    ]
    assert refusals
    assert refusals[0]["type"] == "Warning"
    assert refusals[0]["involvedObject"]["kind"] == "ReplicaSet"
    assert refusals[0]["message"].startswith("Error creating: pods ")


async def test_a_statefulset_comes_up_in_order(api, cluster, namespace):
    read = await create_statefulset(api, namespace, "db", replicas=3)
    done = await until(read, settled(3), _timeout(cluster), "the statefulset to be ready")
    status = done["status"]
    assert status["replicas"] == 3
    assert status["updateRevision"].startswith("db-")
    found = sorted(await pods(api, namespace, "app=db"), key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in found] == ["db-0", "db-1", "db-2"]
    stamps = [p["metadata"]["creationTimestamp"] for p in found]
    assert stamps == sorted(stamps)
    for pod in found:
        assert owner(pod)["uid"] == done["metadata"]["uid"]
        labels = pod["metadata"]["labels"]
        assert labels["controller-revision-hash"] == status["updateRevision"]
        assert labels["statefulset.kubernetes.io/pod-name"] == pod["metadata"]["name"]


async def test_min_ready_seconds_delays_availability(api, cluster, namespace):
    apps = client.AppsV1Api(api)
    body = deployment("patient", replicas=1)
    body["spec"]["minReadySeconds"] = 1
    await apps.create_namespaced_deployment(namespace, body)

    def ready(obj: dict[str, Any]) -> bool:
        return (obj.get("status") or {}).get("readyReplicas") == 1

    early = await until(
        lambda: read_deployment(api, namespace, "patient"), ready, _timeout(cluster), "readiness"
    )
    started = time.monotonic()
    assert not early["status"].get("availableReplicas")
    done = await rollout(api, cluster, namespace, "patient")
    assert done["status"]["availableReplicas"] == 1
    assert time.monotonic() - started > 0.3


async def test_a_statefulset_rolls_a_new_template_through_every_pod(api, cluster, namespace):
    read = await create_statefulset(api, namespace, "kv", replicas=2)
    first = await until(read, settled(2), _timeout(cluster), "the statefulset to be ready")
    image = {
        "spec": {"template": {"spec": {"containers": [{"name": "kv", "image": "nginx:1.28"}]}}}
    }
    await client.AppsV1Api(api).patch_namespaced_stateful_set("kv", namespace, image)
    done = await until(
        read,
        lambda obj: (
            settled(2)(obj) and obj["status"]["updateRevision"] != first["status"]["updateRevision"]
        ),
        _timeout(cluster),
        "the new revision to roll out",
    )
    assert done["status"]["currentRevision"] == done["status"]["updateRevision"]
    found = await pods(api, namespace, "app=kv")
    assert sorted(p["metadata"]["name"] for p in found) == ["kv-0", "kv-1"]
    for pod in found:
        assert (
            pod["metadata"]["labels"]["controller-revision-hash"]
            == (done["status"]["updateRevision"])
        )
        assert pod["spec"]["containers"][0]["image"] == "nginx:1.28"
