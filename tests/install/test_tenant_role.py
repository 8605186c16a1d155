"""The tenant role covers exactly the calls runway makes in an environment's namespace: a
server deploys an app to the simulated cluster (environment made, secrets answered, a volume, a
job, an Ingress, a registry), shows logs, reveals a secret, deploys again without a service
(pruning), while the simulator records every request; then each call is checked against the
tenant role's rules, and each rule against the calls, both ways.

Rollback (snapshots, restores, scaling to zero) is being written: when it lands, add a
rollback to the story and take the volumesnapshots entries out of UNEXERCISED."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from runway.auth import PasswordHasher
from runway.deploy.connection import connect
from runway.http import Settings, create_app
from runway.install.rbac import TENANT_RULES, cluster_rules, grants
from runway.simcluster import SimCluster
from runway.store import Store, sqlite_url
from tests.http.stories import YAML, person_with_environment, wait_for
from tests.http.worlds import PUBLIC_URL, World

pytestmark = pytest.mark.anyio

SHOP = """
runway: 1
app: shop
inputs:
  host: {prompt: Host}
  db_password: {prompt: Database password, type: secret, generate: 16}
  token: {prompt: Registry token, type: secret}
registries:
  registry.example.com: {username: shop, password: "${{ inputs.token }}"}
services:
  db:
    image: postgres:16
    ports: [5432]
    env: {POSTGRES_PASSWORD: "${{ inputs.db_password }}"}
    volumes: {data: {mount: /var/lib/postgresql/data, size: 1Gi}}
    ready: {tcp: 5432}
  migrate:
    kind: job
    image: registry.example.com/shop/app:1
    env: {DB: "${{ services.db.host }}"}
  web:
    image: registry.example.com/shop/app:1
    ports: [8080]
    ready: {tcp: 8080}
    expose: {port: 8080, host: "${{ inputs.host }}"}
"""
SHOP_WITHOUT_WEB = SHOP[: SHOP.index("  web:")]

UNEXERCISED = {
    ("delete", "", "persistentvolumeclaims"): "pruning deletes a claim only once confirmed",
    ("delete", "", "configmaps"): "runway renders no ConfigMap: pruning only looks for them",
    ("get", "", "pods"): "logs read a pod again only while following one not started",
    ("get", "snapshot.storage.k8s.io", "volumesnapshots"): "rollback (being written)",
    ("create", "snapshot.storage.k8s.io", "volumesnapshots"): "rollback (being written)",
    ("delete", "snapshot.storage.k8s.io", "volumesnapshots"): "rollback (being written)",
}
"""Granted, and used by the code, but not by this story (each says why)."""

BOUND_CLUSTER_WIDE = {
    ("create", "rbac.authorization.k8s.io", "rolebindings"),
    ("patch", "rbac.authorization.k8s.io", "rolebindings"),
}
"""Made in the namespace through the cluster-wide role: the RoleBinding that binds the tenant
role comes before runway holds any right there."""

_NAMESPACED = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<rest>.+)$"
)
_CLUSTER = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/(?P<rest>[^/].*)$")


def call(method: str, path: str, query: str) -> tuple[str, str, str, str] | None:
    """(namespace or "", verb, group, resource) of one request, as the API server's RBAC
    sees it; None for what is no resource request (/version, discovery)."""
    found = _NAMESPACED.match(path)
    namespace = found["ns"] if found else ""
    if not found:
        found = _CLUSTER.match(path)
        if not found:
            return None
    parts = found["rest"].split("/")
    resource = parts[0] + (f"/{parts[2]}" if len(parts) > 2 else "")
    named = len(parts) > 1
    watching = parse_qs(query).get("watch", ["false"])[0].lower() in ("true", "1")
    verb = {
        "GET": "get" if named else ("watch" if watching else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }[method]
    return namespace, verb, found["group"] or "", resource


def made(sim: SimCluster) -> set[tuple[str, str, str, str]]:
    """Every (namespace, verb, group, resource) runway's requests needed. A server-side apply
    that made its object (201) needed `create` as well as `patch`."""
    calls = set()
    for request in sim.requests:
        if not request.user_agent.startswith("runway/"):
            continue
        found = call(request.method, request.path, request.query)
        if found is None:
            continue
        calls.add(found)
        if request.method == "PATCH" and request.status == 201:
            calls.add((found[0], "create", found[2], found[3]))
    return calls


@pytest.fixture
async def server(sim: SimCluster, tmp_path: Path) -> AsyncIterator[World]:
    url = sqlite_url(tmp_path)
    settings = Settings(database_url=url, public_url=PUBLIC_URL, hasher=PasswordHasher.cheap())
    kubeconfig = tmp_path / "sim.kubeconfig"
    sim.write_kubeconfig(kubeconfig)
    store = await Store.open(url)
    cluster = await connect(str(kubeconfig))
    world = World(store, settings, create_app(settings, store, cluster=cluster), sim=sim)
    try:
        yield world
    finally:
        await world.close()
        await cluster.close()
        await store.close()


async def test_the_tenant_role_covers_exactly_the_calls_of_a_deployment(
    sim: SimCluster, server: World
):
    sim.requests.clear()
    ann = await person_with_environment(server, "ann")
    path = "/api/v1/environments/staging/deployments"
    first = (await ann.post(path, content=SHOP, headers=YAML)).json()
    answers = {"host": "shop.example.org", "db_password": {"generate": True}, "token": "t0k3n"}
    answered = await ann.post(f"/api/v1/deployments/{first['id']}/inputs", json=answers)
    assert answered.status_code == 200, answered.text
    assert (await ann.post(f"/api/v1/deployments/{first['id']}/start")).status_code == 200
    await wait_for(ann, first["id"], "succeeded")

    step_log = await ann.get(f"/api/v1/deployments/{first['id']}/steps/migrate/logs")
    assert step_log.status_code == 200, step_log.text
    service_log = await ann.get("/api/v1/environments/staging/apps/shop/services/web/logs")
    assert service_log.status_code == 200, service_log.text
    revealed = await ann.post("/api/v1/environments/staging/apps/shop/secrets/db_password/reveal")
    assert revealed.status_code == 200, revealed.text

    second = (await ann.post(path, content=SHOP_WITHOUT_WEB, headers=YAML)).json()
    assert (await ann.post(f"/api/v1/deployments/{second['id']}/start")).status_code == 200
    await wait_for(ann, second["id"], "succeeded")

    calls = made(sim)
    (namespace,) = {ns for ns, *_ in calls if ns.startswith("rw-")}
    inside = {(verb, group, resource) for ns, verb, group, resource in calls if ns == namespace}
    tenant = grants(TENANT_RULES)
    missing = inside - tenant - BOUND_CLUSTER_WIDE
    assert not missing, f"calls the tenant role does not allow: {sorted(missing)}"
    unused = tenant - inside - set(UNEXERCISED)
    assert not unused, f"rights of the tenant role no call used: {sorted(unused)}"
    assert not set(UNEXERCISED) & inside, "an UNEXERCISED right is used now: drop it there"
    assert ("delete", "networking.k8s.io", "ingresses") in inside  # pruning did run

    outside = {(v, g, r) for ns, v, g, r in calls if not ns}
    everywhere = grants(cluster_rules("runway-tenant"))
    assert outside <= everywhere, sorted(outside - everywhere)
    assert not {(v, g, r) for ns, v, g, r in calls if ns and ns != namespace}
