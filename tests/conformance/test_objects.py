"""Objects as clients see them: create, read, list, replace, patch, defaults, versions."""

from __future__ import annotations

import json

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import (
    MERGE,
    config_map,
    deployment,
    failure,
    first_event,
    job,
    pod,
    raw,
    status_fields,
)

pytestmark = pytest.mark.anyio


async def test_created_objects_get_uid_version_and_timestamp(api, namespace):
    core = client.CoreV1Api(api)
    created = await core.create_namespaced_config_map(namespace, config_map("settings"))
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and meta.resource_version
    read = await core.read_namespaced_config_map("settings", namespace)
    assert read.metadata.resource_version == meta.resource_version
    assert read.data == {"key": "value"}
    assert meta.generation is None  # ConfigMaps have no generation


async def test_every_write_moves_the_one_resource_version(api, namespace):
    core = client.CoreV1Api(api)
    a = await core.create_namespaced_config_map(namespace, config_map("a"))
    b = await core.create_namespaced_config_map(namespace, config_map("b"))
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)
    listed = await core.list_namespaced_config_map(namespace)
    assert int(listed.metadata.resource_version) >= int(b.metadata.resource_version)


async def test_lists_page_with_limit_and_continue(api, namespace):
    core = client.CoreV1Api(api)
    for i in range(5):
        await core.create_namespaced_config_map(
            namespace, config_map(f"page-{i}", labels={"set": "p"})
        )
    first = await core.list_namespaced_config_map(namespace, limit=2, label_selector="set=p")
    assert [c.metadata.name for c in first.items] == ["page-0", "page-1"]
    assert first.metadata._continue
    # A write between pages does not show in the rest of a paged list.
    await core.create_namespaced_config_map(namespace, config_map("page-2a", labels={"set": "p"}))
    second = await core.list_namespaced_config_map(
        namespace, limit=2, label_selector="set=p", _continue=first.metadata._continue
    )
    assert [c.metadata.name for c in second.items] == ["page-2", "page-3"]
    third = await core.list_namespaced_config_map(
        namespace, limit=2, label_selector="set=p", _continue=second.metadata._continue
    )
    assert [c.metadata.name for c in third.items] == ["page-4"]
    assert not third.metadata._continue
    assert third.metadata.resource_version == first.metadata.resource_version


async def test_label_selectors_like_kubernetes(api, namespace):
    core = client.CoreV1Api(api)
    shapes = {"a": {"tier": "web", "env": "prod"}, "b": {"tier": "db"}, "c": {"env": "dev"}}
    for name, labels in shapes.items():
        await core.create_namespaced_config_map(namespace, config_map(name, labels=labels))

    async def names(selector: str) -> list[str]:
        found = await core.list_namespaced_config_map(namespace, label_selector=selector)
        return sorted(c.metadata.name for c in found.items if c.metadata.name in shapes)

    assert await names("tier=web") == ["a"]
    assert await names("tier==db") == ["b"]
    assert await names("tier!=web") == ["b", "c"]
    assert await names("tier in (web, db)") == ["a", "b"]
    assert await names("tier notin (web)") == ["b", "c"]
    assert await names("env") == ["a", "c"]
    assert await names("!env") == ["b"]
    assert await names("tier=web,env=prod") == ["a"]
    status, body = await failure(
        core.list_namespaced_config_map(namespace, label_selector="tier in web")
    )
    assert status == 400
    assert status_fields(body)[1] == "BadRequest"


async def test_field_selectors_on_name_namespace_and_pod_phase(api, namespace):
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, config_map("one"))
    await core.create_namespaced_config_map(namespace, config_map("two"))
    found = await core.list_namespaced_config_map(namespace, field_selector="metadata.name=two")
    assert [c.metadata.name for c in found.items] == ["two"]
    across = await core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace},metadata.name!=one"
    )
    assert "two" in [c.metadata.name for c in across.items]
    assert "one" not in [c.metadata.name for c in across.items]
    await core.create_namespaced_pod(namespace, pod("p"))
    pending = await core.list_namespaced_pod(namespace, field_selector="status.phase=Pending")
    assert [p.metadata.name for p in pending.items] == ["p"]
    status, body = await failure(
        core.list_namespaced_config_map(namespace, field_selector="data.key=x")
    )
    assert status == 400
    assert (
        status_fields(body)[0]
        == '"data.key" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


async def test_deployment_defaults(api, namespace):
    created = await client.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("web"))
    spec = created.spec
    assert spec.replicas == 1
    assert spec.strategy.type == "RollingUpdate"
    assert (
        spec.strategy.rolling_update.max_surge,
        spec.strategy.rolling_update.max_unavailable,
    ) == ("25%", "25%")
    assert spec.revision_history_limit == 10
    assert spec.progress_deadline_seconds == 600
    pod_spec = spec.template.spec
    assert (pod_spec.restart_policy, pod_spec.dns_policy, pod_spec.scheduler_name) == (
        "Always",
        "ClusterFirst",
        "default-scheduler",
    )
    assert pod_spec.termination_grace_period_seconds == 30
    container = pod_spec.containers[0]
    assert container.termination_message_path == "/dev/termination-log"
    assert container.image_pull_policy == "IfNotPresent"
    assert created.metadata.generation == 1


async def test_service_defaults_and_cluster_ip(api, namespace):
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    created = await client.CoreV1Api(api).create_namespaced_service(namespace, body)
    assert created.spec.type == "ClusterIP"
    assert created.spec.cluster_ip and created.spec.cluster_ips == [created.spec.cluster_ip]
    port = created.spec.ports[0]
    assert (port.protocol, port.target_port) == ("TCP", 80)


async def test_job_claim_secret_defaults_and_quantities(api, namespace):
    core = client.CoreV1Api(api)
    created = await client.BatchV1Api(api).create_namespaced_job(namespace, job("migrate"))
    assert (created.spec.backoff_limit, created.spec.completions, created.spec.parallelism) == (
        6,
        1,
        1,
    )
    assert created.spec.completion_mode == "NonIndexed"
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1024Mi"}},
        },
    }
    made = await core.create_namespaced_persistent_volume_claim(namespace, claim)
    assert made.spec.volume_mode == "Filesystem"
    assert made.spec.resources.requests == {"storage": "1Gi"}
    assert made.status.phase == "Pending"
    secret = await core.create_namespaced_secret(
        namespace,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}},
    )
    assert secret.type == "Opaque"
    assert secret.data == {"a": "Yg=="}
    cpu = deployment("cpu")
    cpu["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "1000m", "memory": "0.5Gi"}
    }
    made_cpu = await client.AppsV1Api(api).create_namespaced_deployment(namespace, cpu)
    assert made_cpu.spec.template.spec.containers[0].resources.requests == {
        "cpu": "1",
        "memory": "512Mi",
    }


async def test_generation_moves_only_with_spec(api, namespace):
    apps = client.AppsV1Api(api)
    created = await apps.create_namespaced_deployment(namespace, deployment("gen"))
    labelled = await apps.patch_namespaced_deployment(
        "gen", namespace, {"metadata": {"labels": {"deploy": "2"}}}
    )
    assert labelled.metadata.generation == 1
    assert labelled.metadata.resource_version != created.metadata.resource_version
    scaled = await apps.patch_namespaced_deployment("gen", namespace, {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2


async def test_replace_with_a_stale_resource_version_conflicts(api, namespace):
    core = client.CoreV1Api(api)
    first = await core.create_namespaced_config_map(namespace, config_map("dupe"))
    current = await core.read_namespaced_config_map("dupe", namespace)
    current.data = {"key": "new"}
    replaced = await core.replace_namespaced_config_map("dupe", namespace, current)
    assert replaced.data == {"key": "new"}
    first.data = {"key": "stale"}
    status, body = await failure(core.replace_namespaced_config_map("dupe", namespace, first))
    assert status == 409
    assert status_fields(body) == (
        'Operation cannot be fulfilled on configmaps "dupe": the object has been modified; '
        "please apply your changes to the latest version and try again",
        "Conflict",
        409,
    )
    assert body["details"] == {"name": "dupe", "kind": "configmaps"}


async def test_a_write_that_changes_nothing_keeps_the_version(api, namespace):
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, config_map("same"))
    current = await core.read_namespaced_config_map("same", namespace)
    again = await core.replace_namespaced_config_map("same", namespace, current)
    assert again.metadata.resource_version == current.metadata.resource_version


async def test_merge_patch(api, namespace):
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, config_map("m", {"a": "1", "b": "2"}))
    patched = await core.patch_namespaced_config_map(
        "m", namespace, {"data": {"a": None, "c": "3"}}, _content_type=MERGE
    )
    assert patched.data == {"b": "2", "c": "3"}


async def test_strategic_merge_patch_merges_containers_by_name(api, namespace):
    apps = client.AppsV1Api(api)
    body = deployment("smp")
    body["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox:1.36"})
    await apps.create_namespaced_deployment(namespace, body)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:1.37"}]}}}
    }
    patched = await apps.patch_namespaced_deployment(
        "smp", namespace, patch
    )  # strategic by default
    containers = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert containers == {"web": "nginx:1.27", "side": "busybox:1.37"}


async def test_json_patch(api, namespace):
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, config_map("j"))
    patched = await core.patch_namespaced_config_map(
        "j", namespace, [{"op": "add", "path": "/data/more", "value": "yes"}]
    )
    assert patched.data == {"key": "value", "more": "yes"}


@pytest.mark.parametrize("truth", ["true", "True", "1"])
async def test_query_booleans_parse_the_way_kubernetes_does(api, namespace, truth):
    await client.CoreV1Api(api).create_namespaced_config_map(namespace, config_map("seen"))
    path = f"/api/v1/namespaces/{namespace}/configmaps?watch={truth}&timeoutSeconds=5"
    status, event = await first_event(api, path)
    assert status == 200
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "seen")
    listed = await raw(api, "GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=false")
    assert listed.json()["kind"] == "ConfigMapList"


async def test_list_items_of_built_in_kinds_carry_no_kind(api, namespace):
    await client.CoreV1Api(api).create_namespaced_config_map(namespace, config_map("bare"))
    answer = await raw(api, "GET", f"/api/v1/namespaces/{namespace}/configmaps")
    listing = answer.json()
    assert (listing["kind"], listing["apiVersion"]) == ("ConfigMapList", "v1")
    item = next(i for i in listing["items"] if i["metadata"]["name"] == "bare")
    assert "kind" not in item and "apiVersion" not in item
    assert json.loads(answer.body)["metadata"]["resourceVersion"]


async def test_a_dry_run_answers_the_object_and_stores_nothing(api, namespace):
    core = client.CoreV1Api(api)
    answer = await core.create_namespaced_config_map(namespace, config_map("dry"), dry_run="All")
    assert answer.metadata.name == "dry"
    assert answer.metadata.uid
    status, _ = await failure(core.read_namespaced_config_map("dry", namespace))
    assert status == 404
