"""Pruning after a successful deployment: exactly the objects of the app that the deployment no
longer has go (old Jobs with their pods); another app's objects, and objects runway did not make,
stay whatever their names; a volume is reported, not deleted, unless confirmed; Secrets held by
restore points stay; pruning again changes nothing."""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

import pytest

from runway.deploy import SecretRef, Target, render_step
from runway.deploy.apply import apply
from runway.deploy.environment_objects import EnvironmentSpec
from runway.deploy.environments import prepare_environment
from runway.deploy.prune import ObjectRef, Pruned, prune, refs
from runway.planner import plan_source
from tests.deploy.conftest import World

pytestmark = pytest.mark.anyio

MANAGED_BY = {"app.kubernetes.io/managed-by": "runway"}
KINDS = {
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Ingress": "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
}

BLOG_1 = """
    runway: 1
    app: blog
    inputs:
      db_password: {prompt: Password, type: secret}
    services:
      db:
        image: postgres:16.4
        ports: [5432]
        env: {POSTGRES_PASSWORD: "${{ inputs.db_password }}"}
        volumes: {data: {mount: /data, size: 1Gi}}
      migrate:
        kind: job
        image: blog:1
      web:
        image: blog:1
        ports: [8080]
        env: {DATABASE_URL: "postgres://blog:${{ inputs.db_password }}@db/blog"}
        expose: {port: 8080, host: blog.example.org}
      worker:
        image: blog:1
"""
# The next deployment: no more worker, no more database (its volume with it); web and migrate stay.
BLOG_2 = """
    runway: 1
    app: blog
    inputs:
      db_password: {prompt: Password, type: secret}
    services:
      migrate:
        kind: job
        image: blog:2
      web:
        image: blog:2
        ports: [8080]
        env: {DATABASE_URL: "postgres://blog:${{ inputs.db_password }}@db.example.org/blog"}
        expose: {port: 8080, host: blog.example.org}
"""
# Another app of the same owner in the same environment, whose names begin with `blog-` too.
BLOG_WEB = """
    runway: 1
    app: blog-web
    services:
      api:
        image: api:1
        ports: [80]
      migrate:
        kind: job
        image: api:1
"""


def target(config: str, namespace: str, deployment: int, password_version: int = 1) -> Target:
    secrets = {}
    values = {}
    if "db_password" in config:
        name = f"blog-db-password-{password_version}"
        secrets = {"db_password": SecretRef(name, "value")}
        values = {"db_password": f"password {password_version}"}
    return Target(namespace, "staging", deployment, {}, secrets, values)


def rendered(config: str, namespace: str, deployment: int, password_version: int = 1) -> list[Any]:
    plan = plan_source(textwrap.dedent(config).encode())
    at = target(config, namespace, deployment, password_version)
    return [m for step in plan.steps for m in render_step(plan, step.name, at)]


def has(manifests: list[Any]) -> frozenset[ObjectRef]:
    """What the blog's second deployment has: its objects, and its answer's Secret."""
    return refs(manifests, target(BLOG_2, "", 2, password_version=2).secrets.values())


def input_secret(namespace: str, app: str, name: str) -> dict[str, Any]:
    """A secret input's Secret as runway stores answers: referred to, never rendered."""
    labels = {**MANAGED_BY, "runway.dev/app": app, "runway.dev/environment": "staging"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "immutable": True,
        "stringData": {"value": "not shown"},
    }


def config_map(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"note": "kept"},
    }


async def objects(world: World, namespace: str) -> dict[ObjectRef, str]:
    """Every object of the kinds runway renders in the namespace, with its uid; the cluster's
    own (the root CA ConfigMap, a ServiceAccount's token) left out."""
    found = {}
    for kind, path in KINDS.items():
        answer = await world.cluster.request("GET", path.format(ns=namespace))
        for item in answer["items"]:
            meta = item["metadata"]
            if meta["name"] != "kube-root-ca.crt" and not meta.get("deletionTimestamp"):
                found[ObjectRef(kind, meta["name"])] = meta["uid"]
    return found


async def job_pods(world: World, namespace: str, job: str) -> list[Any]:
    path = f"/api/v1/namespaces/{namespace}/pods"
    answer = await world.cluster.request("GET", path, query=[("labelSelector", f"job-name={job}")])
    return list(answer["items"])


async def deploy_first(world: World, namespace: str) -> tuple[list[Any], list[Any]]:
    """Blog's first deployment (its Job run), another app beside it, and two objects that
    are not runway's; the blog's second deployment applied over it. Its manifests, and the
    second deployment's."""
    await world.behave(ready_delay=0.05)
    await prepare_environment(world.cluster, EnvironmentSpec(namespace, "alice", "staging"))
    first = rendered(BLOG_1, namespace, 1)
    second = rendered(BLOG_2, namespace, 2, password_version=2)
    extra = [
        input_secret(namespace, "blog", "blog-db-password-1"),
        input_secret(namespace, "blog", "blog-db-password-2"),
        *rendered(BLOG_WEB, namespace, 1),
        # Not runway's: one without the managed-by label, one with no label at all.
        config_map(namespace, "blog-notes", {"runway.dev/app": "blog"}),
        config_map(namespace, "blog-settings", {}),
    ]
    for manifest in [*extra, *first]:
        await apply(world.cluster, manifest)
    await world.wait_for(
        f"/apis/batch/v1/namespaces/{namespace}/jobs/blog-migrate-1",
        lambda job: (job.get("status") or {}).get("succeeded") == 1,
    )
    assert await job_pods(world, namespace, "blog-migrate-1")
    for manifest in second:
        await apply(world.cluster, manifest)
    return first, second


async def test_pruning_removes_exactly_what_the_deployment_no_longer_has(
    world: World, namespace_name: str
) -> None:
    ns = namespace_name
    first, second = await deploy_first(world, ns)
    before = await objects(world, ns)
    [old_env] = [m["metadata"]["name"] for m in first if m["kind"] == "Secret"]
    [new_env] = [m["metadata"]["name"] for m in second if m["kind"] == "Secret"]
    assert old_env != new_env  # a new password: a new Secret of composed env values

    pruned = await prune(
        world.cluster, ns, "blog", has(second), keep_secrets={"blog-db-password-1"}
    )

    gone = {
        ObjectRef("Deployment", "blog-db"),
        ObjectRef("Service", "blog-db"),
        ObjectRef("Deployment", "blog-worker"),
        ObjectRef("Job", "blog-migrate-1"),
        ObjectRef("Secret", old_env),
    }
    assert set(pruned.deleted) == gone
    assert len(pruned.deleted) == len(gone)
    assert pruned.orphaned_volumes == ("blog-db-data",)
    after = await objects(world, ns)
    assert after == {ref: uid for ref, uid in before.items() if ref not in gone}
    # Still there, among others: the second deployment's objects, the input Secret it reads
    # (referred to, not rendered) and the one a restore point holds, the other app's objects
    # (named `blog-...` too), what runway did not make, and the volume nobody confirmed.
    for kept in [
        ObjectRef("Job", "blog-migrate-2"),
        ObjectRef("Ingress", "blog-web"),
        ObjectRef("Secret", new_env),
        ObjectRef("Secret", "blog-db-password-2"),
        ObjectRef("Secret", "blog-db-password-1"),
        ObjectRef("Deployment", "blog-web-api"),
        ObjectRef("Job", "blog-web-migrate-1"),
        ObjectRef("ConfigMap", "blog-notes"),
        ObjectRef("ConfigMap", "blog-settings"),
        ObjectRef("PersistentVolumeClaim", "blog-db-data"),
    ]:
        assert kept in after, kept


async def test_an_old_job_goes_with_its_pods(world: World, namespace_name: str) -> None:
    _, second = await deploy_first(world, namespace_name)

    await prune(world.cluster, namespace_name, "blog", has(second), keep_secrets=())

    for _ in range(200):  # the garbage collector removes them after the Job
        if not await job_pods(world, namespace_name, "blog-migrate-1"):
            break
        await asyncio.sleep(0.05)
    assert await job_pods(world, namespace_name, "blog-migrate-1") == [], (
        "the old Job's pods were left behind (orphaned)"
    )
    assert await job_pods(world, namespace_name, "blog-web-migrate-1")  # another app's: kept


async def test_a_volume_goes_only_once_its_deletion_is_confirmed(
    world: World, namespace_name: str
) -> None:
    ns = namespace_name
    _, second = await deploy_first(world, ns)
    claim = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/blog-db-data"

    kept = await prune(world.cluster, ns, "blog", has(second), keep_secrets=())
    assert kept.orphaned_volumes == ("blog-db-data",)
    assert ObjectRef("PersistentVolumeClaim", "blog-db-data") not in kept.deleted
    assert await world.cluster.get(claim) is not None

    confirmed = await prune(
        world.cluster, ns, "blog", has(second), keep_secrets=(), delete_volumes={"blog-db-data"}
    )
    assert confirmed == Pruned(deleted=(ObjectRef("PersistentVolumeClaim", "blog-db-data"),))
    # Gone, or going (a claim still mounted by a pod on its way out waits for it).
    found = await world.cluster.get(claim)
    assert found is None or found["metadata"].get("deletionTimestamp")


async def test_secrets_held_by_restore_points_stay_and_the_others_go(
    world: World, namespace_name: str
) -> None:
    ns = namespace_name
    _, second = await deploy_first(world, ns)

    pruned = await prune(world.cluster, ns, "blog", has(second), keep_secrets=())

    secrets = {r.name for r in await objects(world, ns) if r.kind == "Secret"}
    assert ObjectRef("Secret", "blog-db-password-1") in pruned.deleted
    assert "blog-db-password-1" not in secrets
    assert "blog-db-password-2" in secrets  # the deployment's own answer: the next one uses it


async def test_pruning_twice_changes_nothing_the_second_time(
    world: World, namespace_name: str
) -> None:
    ns = namespace_name
    _, second = await deploy_first(world, ns)
    first = await prune(world.cluster, ns, "blog", has(second), keep_secrets=())
    left = await objects(world, ns)

    again = await prune(world.cluster, ns, "blog", has(second), keep_secrets=())

    assert first.deleted
    assert again == Pruned(orphaned_volumes=("blog-db-data",))
    assert await objects(world, ns) == left


async def test_an_object_gone_in_between_is_fine(world: World, namespace_name: str) -> None:
    world.require_sim()
    ns = namespace_name
    _, second = await deploy_first(world, ns)
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/blog-worker"
    # Listed, then deleted by someone else before pruning gets to it: the DELETE finds nothing.
    await world.inject(kind="status", status=404, count=1, path=path, method="DELETE")

    pruned = await prune(world.cluster, ns, "blog", has(second), keep_secrets=())

    assert ObjectRef("Deployment", "blog-worker") not in pruned.deleted
    assert ObjectRef("Deployment", "blog-db") in pruned.deleted


async def test_a_temporary_failure_is_retried(world: World, namespace_name: str) -> None:
    world.require_sim()
    ns = namespace_name
    _, second = await deploy_first(world, ns)
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/blog-worker"
    await world.inject(kind="status", status=503, count=2, path=path, method="DELETE")

    pruned = await prune(world.cluster, ns, "blog", has(second), keep_secrets=())

    assert ObjectRef("Deployment", "blog-worker") in pruned.deleted
    assert await world.cluster.get(path) is None


def test_the_objects_a_deployment_has_include_the_secrets_its_pods_read() -> None:
    manifests = rendered(BLOG_1, "ns", 1)
    found = refs(manifests)
    assert ObjectRef("Secret", "blog-db-password-1") in found  # read by db through secretKeyRef
    assert ObjectRef("Job", "blog-migrate-1") in found
    assert ObjectRef("PersistentVolumeClaim", "blog-db-data") in found
    answered = refs(manifests, [SecretRef("blog-db-password-7", "value")])
    assert answered == found | {ObjectRef("Secret", "blog-db-password-7")}
