"""An environment's namespace with all its guards: rendered (pure), then prepared on a cluster
and read back; a namespace runway did not make is refused; a terminating one is waited for."""

from __future__ import annotations

from typing import Any

import pytest

from runway.deploy.apply import apply
from runway.deploy.environment_objects import (
    EnvironmentSettings,
    EnvironmentSpec,
    guards,
    limit_range,
    namespace,
    resource_quota,
)
from runway.deploy.environments import delete_environment, prepare_environment
from runway.deploy.errors import NamespaceNotOurs, NamespaceTerminating, QuotaExceeded
from tests.deploy.conftest import World

SETTINGS = EnvironmentSettings(
    service_account="runway",
    service_account_namespace="runway-system",
    tenant_role="runway-tenant",
    ingress_namespace="ingress-nginx",
)
QUOTA = {"requests.cpu": "1", "limits.cpu": "2", "requests.memory": "1Gi", "pods": "5"}


def _spec(name: str, quota: dict[str, str] | None = None) -> EnvironmentSpec:
    return EnvironmentSpec(name, owner="alice", environment="staging", quota=quota or QUOTA)


# Rendering, without a cluster.


def test_the_namespace_is_labelled_for_runway_and_pod_security() -> None:
    labels = namespace(_spec("rw-alice-staging"))["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "runway"
    assert labels["runway.dev/owner"] == "alice"
    assert labels["runway.dev/environment"] == "staging"
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_the_quota_is_the_owners_with_no_nodeport_or_load_balancer() -> None:
    hard = resource_quota(_spec("ns"), SETTINGS)["spec"]["hard"]
    assert hard == {**QUOTA, "services.nodeports": "0", "services.loadbalancers": "0"}


def test_an_owner_without_a_quota_gets_the_installations_default() -> None:
    spec = EnvironmentSpec("ns", owner="bob", environment="prod")
    hard = resource_quota(spec, SETTINGS)["spec"]["hard"]
    assert hard["pods"] == SETTINGS.default_quota["pods"]
    assert hard["services.nodeports"] == "0"


def test_the_limit_range_defaults_cover_every_compute_resource_a_quota_limits() -> None:
    quota = {
        "requests.cpu": "1",
        "requests.memory": "1Gi",
        "limits.cpu": "2",
        "limits.memory": "2Gi",
    }
    [limit] = limit_range(_spec("ns", quota), SETTINGS)["spec"]["limits"]
    for key in quota:
        kind, resource = key.split(".")
        side = "defaultRequest" if kind == "requests" else "default"
        assert resource in limit[side], f"{key} has no default in the LimitRange"


def test_rendering_is_the_same_every_time() -> None:
    assert guards(_spec("ns"), SETTINGS) == guards(_spec("ns"), SETTINGS)
    assert all(g["metadata"]["namespace"] == "ns" for g in guards(_spec("ns"), SETTINGS))


# On a cluster.


@pytest.mark.anyio
async def test_a_prepared_namespace_has_all_its_guards(world: World, namespace_name: str) -> None:
    await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS)
    base = f"/api/v1/namespaces/{namespace_name}"
    ns = await world.cluster.get(base)
    assert ns is not None
    labels = ns["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "runway"
    assert labels["runway.dev/owner"] == "alice"
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"

    quota = await world.cluster.get(f"{base}/resourcequotas/runway")
    assert quota is not None
    assert quota["spec"]["hard"]["services.nodeports"] == "0"
    assert quota["spec"]["hard"]["services.loadbalancers"] == "0"
    assert quota["spec"]["hard"]["pods"] == "5"

    limits = await world.cluster.get(f"{base}/limitranges/runway")
    assert limits is not None
    [container] = limits["spec"]["limits"]
    assert container["type"] == "Container"
    assert container["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert container["default"] == {"cpu": "500m", "memory": "512Mi"}

    policy = await world.cluster.get(
        f"/apis/networking.k8s.io/v1/namespaces/{namespace_name}/networkpolicies/runway"
    )
    assert policy is not None
    assert policy["spec"]["podSelector"] == {}
    assert policy["spec"]["ingress"] == [
        {
            "from": [
                {"podSelector": {}},
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                },
            ]
        }
    ]

    binding = await world.cluster.get(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace_name}/rolebindings/runway"
    )
    assert binding is not None
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "runway-tenant",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "apiGroup": "", "name": "runway", "namespace": "runway-system"}
    ]


def _versions(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["resourceVersion"] for o in objects]


@pytest.mark.anyio
async def test_preparing_again_changes_nothing(world: World, namespace_name: str) -> None:
    await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS)
    # The quota controller writes the quota's status once: the resourceVersion moves then.
    quota = f"/api/v1/namespaces/{namespace_name}/resourcequotas/runway"
    await world.wait_for(quota, lambda q: q.get("status", {}).get("hard"))
    first = await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS)
    again = await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS)
    assert _versions(again) == _versions(first)


@pytest.mark.anyio
async def test_a_namespace_runway_did_not_make_is_refused(
    world: World, namespace_name: str
) -> None:
    body = {"metadata": {"name": namespace_name, "labels": {"team": "theirs"}}}
    await world.cluster.request("POST", "/api/v1/namespaces", body=body)

    with pytest.raises(NamespaceNotOurs, match=f"namespace {namespace_name} exists but was not"):
        await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS)
    with pytest.raises(NamespaceNotOurs):
        await delete_environment(world.cluster, namespace_name)

    untouched = await world.cluster.get(f"/api/v1/namespaces/{namespace_name}")
    assert untouched is not None
    assert "app.kubernetes.io/managed-by" not in untouched["metadata"]["labels"]
    assert untouched["metadata"].get("deletionTimestamp") is None
    quota = await world.cluster.get(f"/api/v1/namespaces/{namespace_name}/resourcequotas/runway")
    assert quota is None


@pytest.mark.anyio
async def test_re_creating_a_deleted_environment_waits_for_its_namespace_to_go(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS)
    await delete_environment(world.cluster, namespace_name)

    await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS, terminating_wait=120)

    ns = await world.cluster.get(f"/api/v1/namespaces/{namespace_name}")
    assert ns is not None
    assert ns["metadata"].get("deletionTimestamp") is None
    assert ns["status"]["phase"] == "Active"


@pytest.mark.anyio
async def test_a_namespace_still_terminating_says_so(world: World, namespace_name: str) -> None:
    world.require_sim()  # it keeps a deleted namespace Terminating for a while
    await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS)
    await delete_environment(world.cluster, namespace_name)

    with pytest.raises(NamespaceTerminating, match="still being deleted"):
        await prepare_environment(
            world.cluster, _spec(namespace_name), SETTINGS, terminating_wait=0
        )


@pytest.mark.anyio
async def test_deleting_an_environment_that_is_gone_is_fine(
    world: World, namespace_name: str
) -> None:
    await delete_environment(world.cluster, namespace_name)


@pytest.mark.anyio
async def test_a_pod_over_the_quota_is_refused_naming_the_limit(
    world: World, namespace_name: str
) -> None:
    await prepare_environment(world.cluster, _spec(namespace_name), SETTINGS)
    base = f"/api/v1/namespaces/{namespace_name}"
    # Quota counts only once its controller has filled status.hard; pods need `default`.
    await world.wait_for(f"{base}/resourcequotas/runway", lambda q: q.get("status", {}).get("hard"))
    await world.wait_for(f"{base}/serviceaccounts/default", lambda _: True)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "greedy", "namespace": namespace_name},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:1.36",
                    "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}},
                }
            ]
        },
    }
    with pytest.raises(QuotaExceeded) as refused:
        await apply(world.cluster, pod)
    assert "exceeded quota: runway" in str(refused.value)
    assert "requests.cpu" in str(refused.value)
    assert await world.cluster.get(f"{base}/pods/greedy") is None
