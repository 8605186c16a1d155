"""The simulated cluster's test-only admin API (`/_sim`): behaviour, injected faults, volume
contents (snapshots, restores, clones and copy Jobs keep them), and the requests received."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from runway.simcluster import SimCluster
from runway.simcluster.bodies import Decoded
from runway.simcluster.errors import Forbidden
from runway.simcluster.objects import WriteOptions

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    cluster = SimCluster(admin=True)
    await cluster.start()
    try:
        async with httpx.AsyncClient(base_url=cluster.url) as http:
            http.cluster = cluster  # type: ignore[attr-defined]
            yield http
    finally:
        await cluster.stop()


async def _until(
    http: httpx.AsyncClient, path: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    for _ in range(200):
        answer = await http.get(path)
        if answer.status_code == 200 and check(answer.json()):
            return dict(answer.json())
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never got there: {answer.text}")


def _bound(obj: dict[str, Any]) -> bool:
    return bool((obj.get("status") or {}).get("phase") == "Bound")


async def _namespace(http: httpx.AsyncClient, name: str = "t") -> str:
    answer = await http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert answer.status_code == 201
    classes = "/apis/storage.k8s.io/v1/storageclasses"
    if (await http.get(f"{classes}/now")).status_code == 404:
        body = {
            "metadata": {"name": "now"},
            "provisioner": "runway-sim.io/hostpath",
            "volumeBindingMode": "Immediate",
        }
        assert (await http.post(classes, json=body)).status_code == 201
    return name


async def _claim(http: httpx.AsyncClient, namespace: str, name: str, **spec: Any) -> None:
    body = {
        "metadata": {"name": name},
        "spec": {
            "storageClassName": "now",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            **spec,
        },
    }
    answer = await http.post(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", json=body)
    assert answer.status_code == 201, answer.text
    await _until(http, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}", _bound)


def _files(namespace: str, claim: str) -> str:
    return f"/_sim/volumes/{namespace}/{claim}/files"


# -- presence ----------------------------------------------------------------------------------


async def test_the_admin_api_is_absent_unless_enabled():
    cluster = SimCluster()
    await cluster.start()
    try:
        async with httpx.AsyncClient(base_url=cluster.url) as http:
            answer = await http.get("/_sim/behaviour")
            assert (answer.status_code, answer.text) == (404, "404 page not found\n")
    finally:
        await cluster.stop()


async def test_over_https_the_admin_api_needs_the_token():
    cluster = SimCluster(admin=True)
    await cluster.start(tls=True)
    try:
        async with httpx.AsyncClient(base_url=cluster.url, verify=False) as http:
            assert (await http.get("/_sim/behaviour")).status_code == 401
            headers = {"Authorization": f"Bearer {cluster.token}"}
            assert (await http.get("/_sim/behaviour", headers=headers)).status_code == 200
    finally:
        await cluster.stop()


def test_runway_sim_cluster_admin_serves_it(tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    command = [sys.executable, "-m", "runway", "sim-cluster", "--admin"]
    command += ["--kubeconfig", str(kubeconfig)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not kubeconfig.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        answer = httpx.get(f"{server}/_sim/behaviour")
        assert answer.status_code == 200
        assert set(answer.json()) == {"ready_delay", "slow_delay", "image_delays"}
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- behaviour ---------------------------------------------------------------------------------


async def test_behaviour_is_read_and_changed(sim):
    answer = await sim.put(
        "/_sim/behaviour", json={"ready_delay": 0.05, "image_delays": {"example/web:1": 2}}
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "ready_delay": 0.05,
        "slow_delay": 5.0,
        "image_delays": {"example/web:1": 2.0},
    }
    behaviour = sim.cluster.behaviour
    assert (behaviour.ready_delay, behaviour.image_delays) == (0.05, {"example/web:1": 2.0})
    assert (await sim.get("/_sim/behaviour")).json() == answer.json()


@pytest.mark.parametrize(
    "body",
    [{"ready_delay": -1}, {"slow_delay": "5"}, {"colour": 1}, {"image_delays": [1]}, [1]],
)
async def test_a_bad_behaviour_is_refused_and_changes_nothing(sim, body):
    answer = await sim.put("/_sim/behaviour", json=body)
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert sim.cluster.behaviour.ready_delay == 0.2


@pytest.mark.parametrize(
    "text",
    [
        '{"ready_delay": NaN}',
        '{"slow_delay": Infinity}',
        '{"image_delays": {"web:1": -Infinity}}',
        '{"ready_delay": 3601}',
        '{"image_delays": {"web:1": 1e300}}',
    ],
)
async def test_a_non_finite_or_absurd_delay_is_unprocessable(sim, text):
    answer = await sim.put(
        "/_sim/behaviour", content=text, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert "error" in answer.json()
    assert sim.cluster.behaviour.ready_delay == 0.2
    assert sim.cluster.behaviour.image_delays == {}


@pytest.mark.parametrize(
    "text",
    [
        '{"kind": "latency", "seconds": NaN}',
        '{"kind": "latency", "seconds": Infinity}',
        '{"kind": "latency", "seconds": 86400}',
        '{"kind": "status", "duration": NaN}',
        '{"kind": "status", "duration": 1e9}',
        '{"kind": "status", "count": Infinity}',
    ],
)
async def test_a_non_finite_or_absurd_fault_number_is_unprocessable(sim, text):
    answer = await sim.post(
        "/_sim/faults", content=text, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert "error" in answer.json()
    assert (await sim.get("/_sim/faults")).json() == {"items": []}


# -- faults ------------------------------------------------------------------------------------


async def test_a_status_fault_answers_a_status_for_count_requests(sim):
    fault = {"kind": "status", "status": 503, "count": 2, "path": "/api/v1/namespaces"}
    answer = await sim.post("/_sim/faults", json=fault)
    assert answer.status_code == 201
    assert answer.json()["kind"] == "status"
    assert (await sim.get("/api/v1/configmaps")).status_code == 200  # another path
    for _ in range(2):
        refused = await sim.get("/api/v1/namespaces")
        assert refused.status_code == 503
        assert refused.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "the server is currently unable to handle the request",
            "reason": "ServiceUnavailable",
            "code": 503,
        }
    assert (await sim.get("/api/v1/namespaces")).status_code == 200
    assert (await sim.get("/_sim/faults")).json() == {"items": []}


async def test_a_forbidden_fault_stands_in_for_rbac_and_is_cleared_by_delete(sim):
    fault = {"kind": "status", "status": 403, "method": "post", "message": "no rights"}
    await sim.post("/_sim/faults", json=fault)
    assert (await sim.get("/api/v1/namespaces")).status_code == 200  # GET passes
    refused = await sim.post("/api/v1/namespaces", json={"metadata": {"name": "x"}})
    assert (refused.status_code, refused.json()["message"]) == (403, "no rights")
    assert (await sim.post("/api/v1/namespaces", json={})).status_code == 403  # still in force
    assert (await sim.delete("/_sim/faults")).json() == {"cleared": 1}
    made = await sim.post("/api/v1/namespaces", json={"metadata": {"name": "x"}})
    assert made.status_code == 201


async def test_faults_never_touch_the_admin_api(sim):
    await sim.post("/_sim/faults", json={"kind": "status"})
    assert (await sim.get("/version")).status_code == 500
    assert (await sim.get("/_sim/behaviour")).status_code == 200
    assert (await sim.get("/_sim/faults")).status_code == 200


async def test_a_conflict_names_the_object_written(sim):
    await sim.post("/api/v1/namespaces", json={"metadata": {"name": "c"}})
    config_map = {"metadata": {"name": "cm"}, "data": {"a": "b"}}
    path = "/api/v1/namespaces/c/configmaps"
    assert (await sim.post(path, json=config_map)).status_code == 201
    await sim.post("/_sim/faults", json={"kind": "conflict", "count": 1})
    assert (await sim.get(path)).status_code == 200
    refused = await sim.put(f"{path}/cm", json=config_map)
    assert refused.status_code == 409
    assert refused.json()["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; please '
        "apply your changes to the latest version and try again"
    )
    assert refused.json()["reason"] == "Conflict"
    assert refused.json()["details"] == {"name": "cm", "kind": "configmaps"}
    assert (await sim.put(f"{path}/cm", json=config_map)).status_code == 200


async def test_latency_delays_the_answer(sim):
    await sim.post("/_sim/faults", json={"kind": "latency", "seconds": 0.3, "count": 1})
    started = time.monotonic()
    assert (await sim.get("/api/v1/namespaces")).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await sim.get("/api/v1/namespaces")
    assert time.monotonic() - started < 0.3


async def test_a_dropped_connection_gets_no_answer(sim):
    await sim.post("/_sim/faults", json={"kind": "drop", "count": 1})
    with pytest.raises(httpx.TransportError):
        await sim.get("/api/v1/namespaces", headers={"User-Agent": "dropped/1"})
    assert (await sim.get("/api/v1/namespaces")).status_code == 200
    listed = (await sim.get("/_sim/requests")).json()["items"]
    dropped = [r for r in listed if r["user_agent"] == "dropped/1"]
    assert [(r["path"], r["status"]) for r in dropped] == [("/api/v1/namespaces", 0)]


async def test_a_refused_watch_expires_and_lists_still_work(sim):
    await sim.post("/_sim/faults", json={"kind": "refuse-watch"})
    assert (await sim.get("/api/v1/namespaces")).status_code == 200
    answer = await sim.get("/api/v1/namespaces?watch=True&resourceVersion=5")
    assert answer.status_code == 200
    [line] = answer.text.splitlines()
    event = json.loads(line)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith("too old resource version: 5 (")
    await sim.delete("/_sim/faults")
    await sim.post("/_sim/faults", json={"kind": "refuse-watch", "status": 500})
    assert (await sim.get("/api/v1/namespaces?watch=1")).status_code == 500


async def test_a_fault_with_a_duration_ends(sim):
    await sim.post("/_sim/faults", json={"kind": "status", "status": 500, "duration": 0.2})
    assert (await sim.get("/api/v1/namespaces")).status_code == 500
    await asyncio.sleep(0.25)
    assert (await sim.get("/api/v1/namespaces")).status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "explode"},
        {"kind": "status", "status": 200},
        {"kind": "latency"},
        {"kind": "drop", "count": -1},
        {"kind": "drop", "count": 0},
        {"kind": "drop", "path": "api"},
        {"kind": "drop", "colour": "red"},
    ],
)
async def test_a_fault_that_makes_no_sense_is_refused(sim, fault):
    answer = await sim.post("/_sim/faults", json=fault)
    assert answer.status_code == 400
    assert (await sim.get("/_sim/faults")).json() == {"items": []}


# -- requests ----------------------------------------------------------------------------------


async def test_requests_are_listed_with_their_user_agent(sim):
    start = (await sim.get("/_sim/requests")).json()["next"]
    await sim.get("/api/v1/namespaces", headers={"User-Agent": "runway/1 (instance a)"})
    await sim.get("/api/v1/namespaces/nope", headers={"User-Agent": "runway/1 (instance b)"})
    listed = (await sim.get(f"/_sim/requests?since={start}")).json()
    seen = [(r["method"], r["path"], r["status"], r["user_agent"]) for r in listed["items"]]
    assert seen == [
        ("GET", "/api/v1/namespaces", 200, "runway/1 (instance a)"),
        ("GET", "/api/v1/namespaces/nope", 404, "runway/1 (instance b)"),
    ]
    first, second = (r["index"] for r in listed["items"])
    assert start <= first < second < listed["next"]
    later = (await sim.get(f"/_sim/requests?since={listed['next']}")).json()
    assert later["items"] == []
    assert (await sim.get("/_sim/requests?since=x")).status_code == 400


# -- volume contents ---------------------------------------------------------------------------


async def test_files_are_written_read_listed_and_removed(sim):
    namespace = await _namespace(sim)
    await _claim(sim, namespace, "data")
    files = _files(namespace, "data")
    answer = await sim.put(f"{files}/etc/app.conf?uid=999&gid=998&mode=600", content=b"x=1\n")
    assert answer.status_code == 200
    read = await sim.get(f"{files}/etc/app.conf")
    assert read.content == b"x=1\n"
    assert (read.headers["X-Sim-Uid"], read.headers["X-Sim-Gid"]) == ("999", "998")
    assert read.headers["X-Sim-Mode"] == "0o600"
    listed = (await sim.get(files)).json()
    assert listed["files"] == [
        {"path": "etc/app.conf", "size": 4, "uid": 999, "gid": 998, "mode": "0o600"}
    ]
    assert listed["volume"].startswith("pvc-")
    assert (await sim.delete(f"{files}/etc/app.conf")).status_code == 200
    assert (await sim.get(f"{files}/etc/app.conf")).status_code == 404
    assert (await sim.get(f"{files}/../x")).status_code in (400, 404)


async def test_files_of_missing_or_unbound_claims_are_refused(sim):
    namespace = await _namespace(sim)
    assert (await sim.get(_files(namespace, "nope"))).status_code == 404
    body = {
        "metadata": {"name": "waiting"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await sim.post(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", json=body)
    answer = await sim.put(f"{_files(namespace, 'waiting')}/a", content=b"x")
    assert answer.status_code == 409
    assert answer.json() == {"error": f"persistentvolumeclaim {namespace}/waiting is not bound"}


async def test_a_snapshot_restored_into_a_new_claim_has_the_same_contents(sim):
    namespace = await _namespace(sim)
    await _claim(sim, namespace, "db")
    await sim.put(f"{_files(namespace, 'db')}/pgdata/base?uid=70&gid=70", content=b"rows")
    snapshots = f"/apis/snapshot.storage.k8s.io/v1/namespaces/{namespace}/volumesnapshots"
    snapshot = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": "before"},
        "spec": {"source": {"persistentVolumeClaimName": "db"}},
    }
    assert (await sim.post(snapshots, json=snapshot)).status_code == 201
    ready = await _until(
        sim, f"{snapshots}/before", lambda s: bool((s.get("status") or {}).get("readyToUse"))
    )
    assert ready["spec"]["volumeSnapshotClassName"] == "standard-snapshot"
    # Later writes to the claim do not change the snapshot.
    await sim.put(f"{_files(namespace, 'db')}/pgdata/base", content=b"changed")
    source = {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "before"}
    await _claim(sim, namespace, "db-restored", dataSource=source)
    restored = await sim.get(f"{_files(namespace, 'db-restored')}/pgdata/base")
    assert restored.content == b"rows"
    assert restored.headers["X-Sim-Uid"] == "70"
    # Deleting the snapshot deletes its content (deletionPolicy Delete).
    content = ready["status"]["boundVolumeSnapshotContentName"]
    assert (await sim.delete(f"{snapshots}/before")).status_code == 200
    contents = "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents"
    for _ in range(100):
        if (await sim.get(f"{contents}/{content}")).status_code == 404:
            break
        await asyncio.sleep(0.02)
    assert (await sim.get(f"{contents}/{content}")).status_code == 404


async def test_a_claim_cloned_from_a_claim_has_its_contents(sim):
    namespace = await _namespace(sim)
    await _claim(sim, namespace, "origin")
    await sim.put(f"{_files(namespace, 'origin')}/a", content=b"A")
    source = {"kind": "PersistentVolumeClaim", "name": "origin"}
    await _claim(sim, namespace, "clone", dataSource=source)
    assert (await sim.get(f"{_files(namespace, 'clone')}/a")).content == b"A"


async def test_a_copy_job_copies_files_with_their_owners(sim):
    namespace = await _namespace(sim)
    await _claim(sim, namespace, "live")
    await _claim(sim, namespace, "backup")
    await sim.put(f"{_files(namespace, 'live')}/a?uid=1000&gid=1000&mode=640", content=b"A")
    await sim.put(f"{_files(namespace, 'backup')}/stale", content=b"old")
    job = {
        "metadata": {
            "name": "backup-1",
            "labels": {"runway.dev/copy": "true"},
            "annotations": {"runway.dev/copy-from": "live", "runway.dev/copy-to": "backup"},
        },
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
            }
        },
    }
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    assert (await sim.post(jobs, json=job)).status_code == 201
    await _until(
        sim,
        f"{jobs}/backup-1",
        lambda j: any(
            c["type"] == "Complete" for c in (j.get("status") or {}).get("conditions", [])
        ),
    )
    listed = (await sim.get(_files(namespace, "backup"))).json()["files"]
    assert listed == [{"path": "a", "size": 1, "uid": 1000, "gid": 1000, "mode": "0o640"}]
    pods = (await sim.get(f"/api/v1/namespaces/{namespace}/pods")).json()["items"]
    assert pods == []  # carried out by the simulator, not run


# -- quota admission without a controller ------------------------------------------------------


def test_a_quota_counts_only_once_its_status_is_filled():
    cluster = SimCluster()  # not started: no controller fills the quota's status
    objects, catalogue = cluster.objects, cluster.catalogue
    options = WriteOptions(manager="test")
    namespaces = catalogue.by_key("/namespaces")
    objects.create(namespaces, "", Decoded({"metadata": {"name": "t"}}), options)
    quotas = catalogue.by_key("/resourcequotas")
    quota = {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "0"}}}
    made = objects.create(quotas, "t", Decoded(quota), options).obj
    pods = catalogue.by_key("/pods")

    def pod(name: str) -> Decoded:
        return Decoded(
            {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        )

    objects.create(pods, "t", pod("early"), options)
    filled = {**made, "status": {"hard": {"pods": "0"}, "used": {"pods": "1"}}}
    objects.replace(quotas, "t", "q", Decoded(filled), "status", options)
    with pytest.raises(Forbidden) as refused:
        objects.create(pods, "t", pod("late"), options)
    assert refused.value.message == (
        'pods "late" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, '
        "limited: pods=0"
    )
