"""Discovery as clients read it: versions, groups, resource lists, the minimal OpenAPI document."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import raw

pytestmark = pytest.mark.anyio


async def test_version_names_a_kubernetes_release(api):
    info = await client.VersionApi(api).get_code()
    assert info.major == "1"
    assert info.git_version.startswith("v1.")


async def test_core_api_lists_v1(api):
    versions = await client.CoreApi(api).get_api_versions()
    assert versions.kind == "APIVersions"
    assert "v1" in versions.versions


async def test_groups_include_every_group_runway_uses(api):
    groups = await client.ApisApi(api).get_api_versions()
    names = {g.name for g in groups.groups}
    assert {
        "apps",
        "batch",
        "networking.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
    } <= names
    apps = next(g for g in groups.groups if g.name == "apps")
    assert apps.preferred_version.group_version == "apps/v1"


async def test_resource_lists_carry_what_kubectl_needs(api):
    apps = await client.AppsV1Api(api).get_api_resources()
    assert apps.group_version == "apps/v1"
    deployments = next(r for r in apps.resources if r.name == "deployments")
    assert (deployments.singular_name, deployments.kind, deployments.namespaced) == (
        "deployment",
        "Deployment",
        True,
    )
    assert {"create", "get", "list", "watch", "patch", "update", "delete"} <= set(deployments.verbs)
    assert deployments.short_names == ["deploy"]
    assert "all" in deployments.categories
    assert deployments.storage_version_hash
    assert "deployments/status" in {r.name for r in apps.resources}

    core = await client.CoreV1Api(api).get_api_resources()
    by_name = {r.name: r for r in core.resources}
    assert by_name["namespaces"].namespaced is False
    assert by_name["pods"].storage_version_hash == "xPOwRZ+Yhw8="
    assert "pods/log" in by_name
    assert by_name["configmaps"].short_names == ["cm"]


async def test_snapshot_group_is_served(api):
    groups = await client.ApisApi(api).get_api_versions()
    assert "snapshot.storage.k8s.io" in {g.name for g in groups.groups}
    listing = await raw(api, "GET", "/apis/snapshot.storage.k8s.io/v1")
    names = {r["name"] for r in listing.json()["resources"]}
    assert {"volumesnapshots", "volumesnapshotclasses"} <= names


async def test_unknown_group_is_a_plain_text_404(api):
    answer = await raw(api, "GET", "/apis/nope.example.com/v1")
    assert answer.status == 404
    assert answer.body == b"404 page not found\n"


async def test_openapi_v2_answers_protobuf(api):
    accept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    answer = await raw(api, "GET", "/openapi/v2", headers={"Accept": accept})
    assert answer.status == 200
    assert answer.body.startswith(b"\x0a\x032.0")
