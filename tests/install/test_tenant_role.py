"""The tenant role covers exactly the calls runway makes in an environment's namespace, and the
cluster-wide role exactly those it makes outside: a server deploys an app to the simulated
cluster (environment made, secrets answered, a volume, a job, an Ingress, a registry), shows
logs, reveals a secret, deploys a change of the database without the web service (a restore
point of its volume, and pruning), rolls that back (a restore point again, the app scaled to
zero, the volume put back, the web service again) and deploys the change once more with one
restore point kept (the older backups pruned), while the simulator records every request; then
each call is checked against the roles' rules, resourceNames included, and each rule against
the calls, both ways. Once with snapshots, once with copies (a storage class whose driver has no
VolumeSnapshotClass): backups make different calls."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from runway.install.rbac import RBAC, TENANT_RULES, Rule, cluster_rules, grants
from runway.simcluster import SimCluster
from tests.http.stories import person_with_environment, wait_for
from tests.http.worlds import World
from tests.rollback.conftest import NO_SNAPSHOTS, a_server_on, deploy

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
SHOP_CHANGED = SHOP[: SHOP.index("  web:")].replace(
    "env: {POSTGRES_PASSWORD", 'env: {SCHEMA: "2", POSTGRES_PASSWORD'
)
"""Without the web service (pruned), and the database changed (its volume backed up first)."""
assert SHOP_CHANGED.count("SCHEMA") == 1

SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
UNEXERCISED = {
    ("delete", "", "configmaps"): "runway renders no ConfigMap: pruning only looks for them",
    ("get", "", "pods"): "logs read a pod again only while following one not started",
}
"""Granted, and used by the code, but not by this story (each says why)."""
UNEXERCISED_WITH_COPIES = {
    ("get", SNAPSHOT_GROUP, "volumesnapshots"),
    ("create", SNAPSHOT_GROUP, "volumesnapshots"),
    ("delete", SNAPSHOT_GROUP, "volumesnapshots"),
}
"""The rights only backups by snapshot use (the story's other run uses them)."""

UNEXERCISED_CLUSTER_WIDE = {
    ("delete", "", "namespaces"): "runway.deploy.environments.delete_environment: this story "
    "deletes no environment",
    ("get", "storage.k8s.io", "storageclasses"): "a claim's class is read only when its "
    "volume names no CSI driver (the simulator's always do)",
}
"""Granted cluster-wide, used by the code, not by this story (each says why)."""

BOUND_CLUSTER_WIDE = {
    ("create", RBAC, "rolebindings"),
    ("patch", RBAC, "rolebindings"),
}
"""Made in the namespace through the cluster-wide role: the RoleBinding that binds the tenant
role comes before runway holds any right there."""

_NAMESPACED = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<rest>.+)$"
)
_CLUSTER = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/(?P<rest>[^/].*)$")

Call = tuple[str, str, str, str, str]
"""(namespace or "", verb, group, resource, object name or "")"""


def call(method: str, path: str, query: str) -> Call | None:
    """One request as the API server's RBAC sees it; None for what is no resource request
    (/version, discovery)."""
    found = _NAMESPACED.match(path)
    namespace = found["ns"] if found else ""
    if not found:
        found = _CLUSTER.match(path)
        if not found:
            return None
    parts = found["rest"].split("/")
    resource = parts[0] + (f"/{parts[2]}" if len(parts) > 2 else "")
    name = parts[1] if len(parts) > 1 else ""
    watching = parse_qs(query).get("watch", ["false"])[0].lower() in ("true", "1")
    verb = {
        "GET": "get" if name else ("watch" if watching else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }[method]
    return namespace, verb, found["group"] or "", resource, name


def made(sim: SimCluster) -> set[Call]:
    """Every call runway's requests needed. A server-side apply that made its object (201)
    needed `create` as well as `patch` (a create names no object: RBAC cannot know it before);
    a RoleBinding needs `bind` on the role it binds (runway does not hold the tenant role's
    rights everywhere, so the API server's escalation check asks for that)."""
    calls = set()
    for request in sim.requests:
        if not request.user_agent.startswith("runway/"):
            continue
        found = call(request.method, request.path, request.query)
        if found is None:
            continue
        calls.add(found)
        if request.method == "PATCH" and request.status == 201:
            calls.add((found[0], "create", found[2], found[3], ""))
    bound = {c[0] for c in calls if c[1:4] in BOUND_CLUSTER_WIDE}
    for binding in sim.store.items(f"{RBAC}/rolebindings"):
        if binding["metadata"]["namespace"] not in bound:
            continue
        ref = binding["roleRef"]
        assert ref["kind"] == "ClusterRole", ref
        calls.add(("", "bind", RBAC, "clusterroles", ref["name"]))
    return calls


def allowed(rules: tuple[Rule, ...], verb: str, group: str, resource: str, name: str) -> bool:
    """Whether one of the rules allows the call, as RBAC decides it: a rule with resourceNames
    allows only calls that name one of them (never a create, list or watch)."""
    return any(
        (verb, group, resource) in rule.grants() and (not rule.names or name in rule.names)
        for rule in rules
    )


def used(rules: tuple[Rule, ...], calls: set[Call]) -> set[tuple[str, str, str]]:
    """The (verb, group, resource) rights of the rules that some call needed."""
    return {
        (verb, group, resource)
        for rule in rules
        for verb, group, resource in rule.grants()
        if any(c[1:4] == (verb, group, resource) and allowed((rule,), *c[1:]) for c in calls)
    }


def test_resource_names_narrow_a_rule_as_rbac_does() -> None:
    bind = Rule(RBAC, ("clusterroles",), ("bind",), "", names=("runway-tenant",))
    assert allowed((bind,), "bind", RBAC, "clusterroles", "runway-tenant")
    assert not allowed((bind,), "bind", RBAC, "clusterroles", "cluster-admin")
    assert not allowed((bind,), "bind", RBAC, "clusterroles", "")
    assert used((bind,), {("", "bind", RBAC, "clusterroles", "admin")}) == set()


@pytest.fixture(params=["snapshots", "copies"])
async def server(
    request: pytest.FixtureRequest, sim: SimCluster, tmp_path: Path
) -> AsyncIterator[World]:
    async with a_server_on(sim, tmp_path, request.param) as world:
        yield world


async def test_the_roles_cover_exactly_the_calls_of_deployments_and_a_rollback(
    sim: SimCluster, server: World
) -> None:
    copies = server.settings.render.storage_class == NO_SNAPSHOTS
    sim.requests.clear()
    ann = await person_with_environment(server, "ann")
    answers = {"host": "shop.example.org", "db_password": {"generate": True}, "token": "t0k3n"}
    first = (await deploy(ann, SHOP, answers))["id"]

    step_log = await ann.get(f"/api/v1/deployments/{first}/steps/migrate/logs")
    assert step_log.status_code == 200, step_log.text
    service_log = await ann.get("/api/v1/environments/staging/apps/shop/services/web/logs")
    assert service_log.status_code == 200, service_log.text
    revealed = await ann.post("/api/v1/environments/staging/apps/shop/secrets/db_password/reveal")
    assert revealed.status_code == 200, revealed.text

    second = (await deploy(ann, SHOP_CHANGED, None))["id"]
    rolled = await ann.post(f"/api/v1/deployments/{second}/rollback", json={"confirm": "staging"})
    assert rolled.status_code == 201, rolled.text
    await wait_for(ann, rolled.json()["id"], "succeeded")
    owner = await server.store.users.by_name("ann")
    assert owner is not None
    environment = await server.store.environments.get(owner.id, "staging")
    assert environment is not None
    await server.store.restore_points.set_kept(environment.id, 1)
    last = (await deploy(ann, SHOP_CHANGED, None))["id"]
    pruned = await server.store.restore_points.of_deployment(second)
    assert pruned is not None and pruned.pruned_at is not None, pruned
    assert (await server.store.restore_points.of_deployment(last)) is not None

    calls = made(sim)
    (namespace,) = {c[0] for c in calls if c[0].startswith("rw-")}
    assert not {c for c in calls if c[0] and c[0] != namespace}
    inside = {c for c in calls if c[0] == namespace and c[1:4] not in BOUND_CLUSTER_WIDE}
    denied = {c[1:] for c in inside if not allowed(TENANT_RULES, *c[1:])}
    assert not denied, f"calls the tenant role does not allow: {sorted(denied)}"
    unexercised = set(UNEXERCISED) | (UNEXERCISED_WITH_COPIES if copies else set())
    unused = grants(TENANT_RULES) - used(TENANT_RULES, inside) - unexercised
    assert not unused, f"rights of the tenant role no call used: {sorted(unused)}"
    assert not unexercised & used(TENANT_RULES, inside), "an UNEXERCISED right is used now"
    done = {c[1:] for c in inside}
    assert ("delete", "networking.k8s.io", "ingresses", "shop-web") in done  # pruning ran
    if copies:  # the rollback (deployment 3) copied the backup back; #2's backup was pruned
        assert ("create", "batch", "jobs", "") in done
        assert ("get", "batch", "jobs", "shop-db-data-rb3") in done
        assert ("delete", "", "persistentvolumeclaims", "shop-db-data-rp2") in done
    else:  # the rollback made the volume's claim again from #2's snapshot, pruned later
        assert ("delete", "", "persistentvolumeclaims", "shop-db-data") in done
        assert ("delete", SNAPSHOT_GROUP, "volumesnapshots", "shop-db-data-rp2") in done

    everywhere = cluster_rules("runway-tenant")
    outside = {c for c in calls if not c[0] or c[1:4] in BOUND_CLUSTER_WIDE}
    denied = {c[1:] for c in outside if not allowed(everywhere, *c[1:])}
    assert not denied, f"calls the cluster-wide role does not allow: {sorted(denied)}"
    unused = grants(everywhere) - used(everywhere, outside) - set(UNEXERCISED_CLUSTER_WIDE)
    assert not unused, f"rights of the cluster-wide role no call used: {sorted(unused)}"
    assert not set(UNEXERCISED_CLUSTER_WIDE) & used(everywhere, outside), "used now: drop it"
