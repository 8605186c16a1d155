"""What keeps an installation to itself: the admission policy that narrows runway's cluster-wide
rights, the NetworkPolicies of its namespace, the objects it refuses to take over, the database
it will not switch away from, an uninstall that waits for runway's pods, a dry run that keeps
secrets, options the server would refuse, and a server told its own namespace, tenant role and
ingress controller."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from runway.cli import _parser, main
from runway.cli.serving import environment_settings, render_settings
from runway.deploy.apply import apply
from runway.deploy.connection import Cluster
from runway.deploy.environment_objects import EnvironmentSpec, guards
from runway.http.installation import MAX_PROXIES
from runway.http.ui.processes import Limits as BrowserLimits
from runway.install import InstallError, InstallOptions, check, install, render, uninstall
from runway.install.installer import wait_for_servers_gone
from runway.install.options import (
    DASHBOARD_MIB,
    DASHBOARDS,
    ENVIRONMENT_PREFIX,
    HASH_MIB,
    cluster_names,
    memory_needed,
)
from runway.ssh.session import Limits as SshLimits
from runway.store.environments import namespace_candidates

pytestmark = pytest.mark.anyio
URL = "http://runway.example.com"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def by_name(options: InstallOptions) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in render(options, "pw", "tk")}


def test_the_admission_policy_holds_runway_to_environments_namespaces_and_its_tenant_role():
    options = check(InstallOptions(public_url=URL, namespace="tools"))
    objects = by_name(options)
    policy = objects["ValidatingAdmissionPolicy/runway.tools"]["spec"]
    binding = objects["ValidatingAdmissionPolicyBinding/runway.tools"]["spec"]
    assert binding == {"policyName": "runway.tools", "validationActions": ["Deny"]}
    assert policy["failurePolicy"] == "Fail"
    (condition,) = policy["matchConditions"]
    assert condition["expression"] == (
        'request.userInfo.username == "system:serviceaccount:tools:runway"'
    )
    rules = policy["matchConstraints"]["resourceRules"]
    assert [(r["resources"], r["operations"]) for r in rules] == [
        (["namespaces"], ["CREATE", "UPDATE", "DELETE"]),
        (["rolebindings"], ["CREATE", "UPDATE", "DELETE"]),
    ]
    expressions = " ".join(v["expression"] for v in policy["validations"])
    assert 'request.name.startsWith("rw-")' in expressions
    assert 'oldObject.metadata.labels["app.kubernetes.io/managed-by"] == "runway"' in expressions
    assert 'namespaceObject.metadata.labels["app.kubernetes.io/managed-by"]' in expressions
    assert 'object.roleRef.name == "runway:tools:tenant"' in expressions
    assert 'object.subjects[0].namespace == "tools"' in expressions
    # The prefix is the one environments' namespaces are given, whatever their names.
    for user, env in (("ann", "prod"), ("a" * 40, "b" * 40), ("Bob", "x")):
        assert next(namespace_candidates(user, env)).startswith(ENVIRONMENT_PREFIX)


def test_the_guards_runway_renders_for_an_environment_pass_the_policy_checks():
    """The RoleBinding and namespace runway makes meet what the policy requires of them
    (checked here by hand: the simulated cluster does not evaluate CEL)."""
    options = check(InstallOptions(public_url=URL, namespace="tools", ingress_namespace="traefik"))
    settings = environment_settings(
        _parser().parse_args(["serve", "--namespace=tools", f"--tenant-role={options.tenant_role}"])
    )
    spec = EnvironmentSpec(
        namespace=next(namespace_candidates("ann", "prod")), owner="ann", environment="prod"
    )
    binding = next(o for o in guards(spec, settings) if o["kind"] == "RoleBinding")
    assert binding["roleRef"]["name"] == options.tenant_role
    (subject,) = binding["subjects"]
    assert (subject["kind"], subject["name"], subject["namespace"]) == (
        "ServiceAccount",
        "runway",
        "tools",
    )


def test_runway_serve_reads_its_namespace_tenant_role_and_ingress_namespace(
    monkeypatch: pytest.MonkeyPatch,
):
    options = check(InstallOptions(public_url=URL, namespace="tools", ingress_namespace="traefik"))
    (container,) = by_name(options)["Deployment/runway"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["RUNWAY_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    # As the pod sees them: the downward API gives the namespace.
    monkeypatch.setenv("RUNWAY_NAMESPACE", "tools")
    monkeypatch.setenv("RUNWAY_TENANT_ROLE", env["RUNWAY_TENANT_ROLE"]["value"])
    monkeypatch.setenv("RUNWAY_INGRESS_NAMESPACE", env["RUNWAY_INGRESS_NAMESPACE"]["value"])
    settings = environment_settings(_parser().parse_args(["serve"]))
    assert settings.service_account_namespace == "tools"
    assert settings.tenant_role == "runway:tools:tenant"
    assert settings.ingress_namespace == "traefik"
    spec = EnvironmentSpec(namespace="rw-ann-prod", owner="ann", environment="prod")
    policy = next(o for o in guards(spec, settings) if o["kind"] == "NetworkPolicy")
    admitted = policy["spec"]["ingress"][0]["from"][1]["namespaceSelector"]["matchLabels"]
    assert admitted == {"kubernetes.io/metadata.name": "traefik"}


def test_runways_namespace_admits_http_from_the_ingress_controller_and_postgres_from_runway():
    objects = by_name(
        check(InstallOptions(public_url=URL, ssh_port=22, ingress_namespace="traefik"))
    )
    server = objects["NetworkPolicy/runway-server"]["spec"]
    assert server["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    http, ssh = server["ingress"]
    assert http["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}
    ]
    assert http["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert ssh == {"ports": [{"protocol": "TCP", "port": 2222}]}  # from anywhere
    database = objects["NetworkPolicy/runway-postgres"]["spec"]
    assert database["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "database"
    (only,) = database["ingress"]
    assert only["from"] == [{"podSelector": {"matchLabels": server["podSelector"]["matchLabels"]}}]
    no_ssh = by_name(check(InstallOptions(public_url=URL)))["NetworkPolicy/runway-server"]
    assert len(no_ssh["spec"]["ingress"]) == 1


def test_cluster_wide_names_never_collide_with_built_in_roles_or_other_installations():
    assert cluster_names("runway") == ("runway", "runway-tenant", "runway")
    names = {
        name
        for ns in ("edit", "admin", "view", "tenant", "x", "x-tenant")
        for name in cluster_names(ns)
    }
    assert not names & {"edit", "admin", "view", "cluster-admin", "runway", "runway-tenant"}
    assert len(names) == 6 * 3
    objects = by_name(check(InstallOptions(public_url=URL, namespace="edit")))
    assert "ClusterRole/edit" not in objects and "ClusterRole/runway:edit" in objects


def test_memory_limit_covers_every_dashboard_the_server_allows():
    assert BrowserLimits().total == DASHBOARDS and SshLimits().total == DASHBOARDS
    assert DASHBOARD_MIB >= 55 and HASH_MIB == 64
    container = by_name(check(InstallOptions(public_url=URL, ssh_port=22)))["Deployment/runway"][
        "spec"
    ]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == f"{memory_needed(True)}Mi"
    assert memory_needed(True) > 80 * 55 and memory_needed(False) > 40 * 55
    given = by_name(check(InstallOptions(public_url=URL, memory_limit="2Gi")))
    limits = given["Deployment/runway"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert limits["limits"]["memory"] == "2Gi"


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--namespace=default"], "the cluster's own"),
        (["--namespace=kube-system"], "the cluster's own"),
        (["--namespace=rw-ann-prod"], "as environments' namespaces do"),
        (["--trusted-proxies=10.0.0.0/8,10.1.2.300"], "--trusted-proxies: '10.1.2.300'"),
        (["--ingress-namespace=Ingress"], "--ingress-namespace"),
        (["--memory-limit=lots"], "--memory-limit"),
        (
            ["--trusted-proxies=" + ",".join(f"10.0.0.{n}" for n in range(MAX_PROXIES + 1))],
            "runway serve would refuse: trusted_proxies",
        ),
    ],
)
def test_options_runway_serve_or_the_cluster_would_refuse_are_refused_at_once(
    capsys: pytest.CaptureFixture[str], flags: list[str], said: str
):
    assert main(["install", "--dry-run", f"--public-url={URL}", *flags]) == 1
    captured = capsys.readouterr()
    assert said in captured.err and "Traceback" not in captured.err


def test_the_dry_run_prints_no_secret_unless_asked(capsys: pytest.CaptureFixture[str]):
    given = "postgresql://runway:s3cret-pw@db.example.com/runway?password=s3cret-pw"
    assert main(["install", "--dry-run", f"--public-url={URL}", f"--database-url={given}"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-pw" not in out and "czNjcmV0LXB3" not in out  # nor its base64
    secret = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "Secret")

    url = base64.b64decode(secret["data"]["url"]).decode()
    assert url == ("postgresql://runway:REDACTED@db.example.com/runway?password=REDACTED")
    assert main(["install", "--dry-run", f"--public-url={URL}"]) == 0
    secrets = _secrets(capsys.readouterr().out)
    assert base64.b64decode(secrets["runway-database"]["password"]).decode() == "REDACTED"
    assert base64.b64decode(secrets["runway-metrics"]["token"]).decode() == "REDACTED"
    assert main(["install", "--dry-run", "--show-secrets", f"--public-url={URL}"]) == 0
    secrets = _secrets(capsys.readouterr().out)
    assert len(base64.b64decode(secrets["runway-database"]["password"]).decode()) >= 24
    assert len(base64.b64decode(secrets["runway-metrics"]["token"]).decode()) >= 24


def _secrets(printed: str) -> dict[str, dict[str, str]]:
    """The data of each Secret a dry run printed, by name."""
    found = [d for d in yaml.safe_load_all(printed) if d and d["kind"] == "Secret"]
    return {d["metadata"]["name"]: d["data"] for d in found}


async def test_objects_the_installer_did_not_make_are_not_taken_over(cluster: Cluster):
    monitoring = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}
    await apply(cluster, monitoring)
    options = check(InstallOptions(public_url=URL, namespace="monitoring"))
    with pytest.raises(InstallError, match="Namespace monitoring exists and was not made by"):
        await install(cluster, options, lambda _: None)
    # Refused before anything was applied: no right was granted.
    assert await cluster.get(f"{RBAC}/clusterroles/runway:monitoring") is None
    found = await cluster.get("/api/v1/namespaces/monitoring")
    assert found is not None and "pod-security.kubernetes.io/enforce" not in found["metadata"].get(
        "labels", {}
    )

    foreign = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "runway-tenant"},
        "rules": [],
    }
    await apply(cluster, foreign)
    with pytest.raises(InstallError, match="ClusterRole runway-tenant exists"):
        await install(cluster, check(InstallOptions(public_url=URL)), lambda _: None)
    assert await cluster.get("/api/v1/namespaces/runway") is None


async def test_switching_to_an_existing_database_over_runways_own_is_refused(cluster: Cluster):
    options = check(InstallOptions(public_url=URL))
    await install(cluster, options, lambda _: None)
    switched = check(InstallOptions(public_url=URL, database_url="postgresql://u:p@db/runway"))
    with pytest.raises(InstallError, match="--delete-data"):
        await install(cluster, switched, lambda _: None)
    secret = await cluster.get("/api/v1/namespaces/runway/secrets/runway-database")
    assert secret is not None and "password" in secret["data"]


class Recording:
    """A connection that records every request (method, path, query) and what it answered."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.calls: list[tuple[str, str, list[tuple[str, str]], Any]] = []

    async def get(self, path: str) -> Any:
        found = await self.cluster.get(path)
        self.calls.append(("GET", path, [], found))
        return found

    async def request(self, method: str, path: str, **given: Any) -> Any:
        answer = await self.cluster.request(method, path, **given)
        self.calls.append((method, path, list(given.get("query") or []), answer))
        return answer


async def test_uninstall_waits_for_runways_pods_before_its_database_and_rights_go(
    cluster: Cluster,
):
    from runway.install import wait_until_ready

    options = check(InstallOptions(public_url=URL))
    await install(cluster, options, lambda _: None)
    await wait_until_ready(cluster, options, 30)
    said: list[str] = []
    recording = Recording(cluster)
    await uninstall(recording, "runway", False, said.append, timeout=30)  # type: ignore[arg-type]
    deletes = [(path, query) for method, path, query, _ in recording.calls if method == "DELETE"]
    server = next(i for i, (path, _) in enumerate(deletes) if path.endswith("/deployments/runway"))
    assert deletes[server][1] == [("propagationPolicy", "Foreground")]
    # After the Deployment's deletion, runway's pods were listed until none was left, and only
    # then did the database and the rights go.
    order = [
        (method, path, answer)
        for method, path, _, answer in recording.calls
        if method == "DELETE" or path == "/api/v1/namespaces/runway/pods"
    ]
    deployment_at = next(
        i for i, (m, p, _) in enumerate(order) if p.endswith("/deployments/runway")
    )
    listed = [i for i, (m, p, _) in enumerate(order) if p.endswith("/pods")]
    assert listed and listed[0] == deployment_at + 1
    last_list = order[listed[-1]][2]
    assert last_list["items"] == []
    later = [p for m, p, _ in order[listed[-1] + 1 :]]
    assert any(p.endswith("/statefulsets/runway-postgres") for p in later)
    assert any(p.endswith("/clusterroles/runway") for p in later)
    assert said.index("deleted Deployment runway") < said.index("runway's pods have stopped")
    assert "deleted ValidatingAdmissionPolicy runway" in said
    assert "deleted NetworkPolicy runway-server" in said


class PodsThatStay:
    async def request(self, method: str, path: str, **given: Any) -> dict[str, Any]:
        return {"items": [{"metadata": {"name": "runway-abc"}}]}


async def test_uninstall_stops_when_runways_pods_do_not():
    with pytest.raises(InstallError, match=r"still stopping after 0.2 s \(runway-abc\)"):
        await wait_for_servers_gone(PodsThatStay(), "runway", 0.2)  # type: ignore[arg-type]


def test_the_storage_class_runway_install_sets_reaches_apps_volumes(
    monkeypatch: pytest.MonkeyPatch,
):
    options = check(InstallOptions(public_url=URL, storage_class="fast"))
    (container,) = by_name(options)["Deployment/runway"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    monkeypatch.setenv("RUNWAY_STORAGE_CLASS", env["RUNWAY_STORAGE_CLASS"])
    assert render_settings(_parser().parse_args(["serve"])).storage_class == "fast"
    monkeypatch.delenv("RUNWAY_STORAGE_CLASS")
    assert render_settings(_parser().parse_args(["serve"])).storage_class is None
