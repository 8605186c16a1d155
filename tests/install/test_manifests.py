"""What `runway install` renders, without a cluster: the options it refuses, runway's rights,
where the database password goes, what the server is told, and the image's Dockerfile (built
where a Docker engine exists)."""

from __future__ import annotations

import argparse
import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from runway.cli import _parser, main
from runway.install import InstallOptions, check, render
from runway.install.manifests import SETTINGS_PENDING, server_environment
from runway.install.rbac import TENANT_RULES

ROOT = Path(__file__).parents[2]
URL = "https://runway.example.com"


def rendered(**given: Any) -> dict[str, dict[str, Any]]:
    options = check(InstallOptions(public_url=URL, cert_manager_issuer="le", **given))
    password = None if options.database_url else "p4ssw0rd-generated-here"
    objects = render(options, password, "metrics token")
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--public-url=runway.example.com"], "expected http(s)://HOST"),
        (["--public-url=https://runway.example.com"], "needs its certificate"),
        (["--public-url=http://r.example.com", "--tls-secret=x"], "make it https://"),
        (["--public-url=http://r.example.com/runway"], "root of its host"),
        (["--public-url=http://r.example.com", "--default-quota=cpu"], "RESOURCE=QUANTITY"),
        (["--public-url=http://r.example.com", "--default-quota=gpus=1"], "unknown 'gpus'"),
        (["--public-url=http://r.example.com", "--namespace=Runway"], "not a DNS label"),
        (["--public-url=http://r.example.com", "--database-url=mysql://x"], "postgresql://"),
        ([], "--public-url is needed"),
    ],
)
def test_wrong_options_are_refused_in_plain_words(
    capsys: pytest.CaptureFixture[str], flags: list[str], said: str
):
    assert main(["install", "--dry-run", *flags]) == 1
    captured = capsys.readouterr()
    assert said in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_the_cluster_wide_role_holds_no_workload_or_secret_and_binds_only_the_tenant_role():
    objects = rendered()
    cluster_wide = objects["ClusterRole/runway"]["rules"]
    resources = {r for rule in cluster_wide for r in rule["resources"]}
    assert resources == {
        "namespaces",
        "rolebindings",
        "clusterroles",
        "storageclasses",
        "persistentvolumes",
        "volumesnapshotclasses",
    }
    (bind,) = [rule for rule in cluster_wide if "clusterroles" in rule["resources"]]
    assert bind == {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": ["runway-tenant"],
    }
    binding = objects["ClusterRoleBinding/runway"]
    assert binding["roleRef"]["name"] == "runway"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "runway", "namespace": "runway"}
    ]
    tenant = objects["ClusterRole/runway-tenant"]["rules"]
    assert tenant == [rule.policy() for rule in TENANT_RULES]
    assert all("*" not in rule["verbs"] and "*" not in rule["resources"] for rule in tenant)


def test_the_database_password_is_only_in_its_secret():
    objects = rendered()
    secret = objects["Secret/runway-database"]
    assert base64.b64decode(secret["data"]["password"]).decode() == "p4ssw0rd-generated-here"
    for name, manifest in objects.items():
        if name != "Secret/runway-database":
            assert "p4ssw0rd" not in yaml.safe_dump(manifest), name
    (container,) = objects["Deployment/runway"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["RUNWAY_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "runway-database",
        "key": "url",
    }


def test_runway_runs_twice_with_probes_a_budget_and_its_public_url():
    objects = rendered(ssh_port=2200)
    spec = objects["Deployment/runway"]["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert spec["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # A migration at start gets half an hour before the liveness probe may restart the pod,
    # and the rollout is not called stuck before that either.
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/healthz", "port": "http"}
    window = startup["periodSeconds"] * startup["failureThreshold"]
    assert window >= 30 * 60
    assert "initialDelaySeconds" not in container["livenessProbe"]  # the startup probe's job
    assert spec["progressDeadlineSeconds"] > window
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert {"name": "RUNWAY_PUBLIC_URL", "value": URL} in container["env"]
    assert objects["PodDisruptionBudget/runway"]["spec"]["maxUnavailable"] == 1
    ports = objects["Service/runway"]["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("http", 80), ("ssh", 2200)]
    ingress = objects["Ingress/runway"]
    assert ingress["spec"]["tls"] == [{"hosts": ["runway.example.com"], "secretName": "runway-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "le"


def test_an_existing_database_needs_no_postgres_of_runways_own():
    objects = rendered(database_url="postgresql://u:secret@db/runway")
    assert not [name for name in objects if "postgres" in name]
    secret = objects["Secret/runway-database"]
    assert set(secret["data"]) == {"url"}


def _serve_reads() -> set[str]:
    """The RUNWAY_* variables `runway serve` reads: one per flag."""
    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    return {f"RUNWAY_{a.dest.upper()}" for a in serve._actions if a.option_strings}


def test_every_variable_runway_is_given_is_one_runway_serve_reads():
    options = check(
        InstallOptions(
            public_url=URL,
            cert_manager_issuer="le",
            ssh_port=22,
            trusted_proxies="10.0.0.0/8",
            ingress_class="nginx",
            storage_class="fast",
            snapshot_class="snap",
            apps_domain="apps.example.com",
            default_quota={"pods": "10"},
        )
    )
    given = {e["name"] for e in server_environment(options)}
    reads = _serve_reads()
    assert given - reads <= SETTINGS_PENDING, sorted(given - reads - SETTINGS_PENDING)
    now_read = SETTINGS_PENDING & reads
    assert not now_read, f"runway serve reads these now: take them out of PENDING: {now_read}"


def test_the_readme_explains_every_right_of_the_tenant_role():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Installing runway in a cluster") :]
    for rule in TENANT_RULES:
        for resource in rule.resources:
            assert f"`{resource}`" in section, resource
    assert "ValidatingAdmissionPolicy" in section and "--ingress-namespace" in section
    assert "no cluster-wide right over Secrets" not in section
    assert "pods' CIDR (where" not in section  # the advice that let tenants forge addresses


def test_the_image_is_slim_pinned_two_staged_and_not_root():
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm" in lines
    stages = [line for line in lines if line.startswith("FROM ")]
    assert stages == ["FROM ${PYTHON_IMAGE} AS build", "FROM ${PYTHON_IMAGE}"]
    final = text[text.rindex("FROM ") :]
    assert "build-essential" not in final and "apt-get" not in final
    assert "COPY --from=build /opt/runway /opt/runway" in final
    assert "USER 10001:10001" in final
    assert "/healthz" in final and "HEALTHCHECK" in final
    assert 'ENTRYPOINT ["runway", "serve"]' in final
    assert "-e RUNWAY_PUBLIC_URL=http://localhost:8080" in text  # else the Origin check refuses
    manifests = rendered()
    pod = manifests["Deployment/runway"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user


def _docker_engine() -> str | None:
    """Why the image cannot be built here, or None when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    answer = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if answer.returncode != 0:
        said = (answer.stderr or answer.stdout).strip().splitlines()
        return f"no Docker engine answers `docker info`: {said[-1] if said else 'no reason'}"
    return None


def test_the_image_builds_where_a_docker_engine_exists():
    why = _docker_engine()
    if why is not None:
        pytest.skip(why)
    built = subprocess.run(
        ["docker", "build", "--quiet", "-t", "runway:test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    ran = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "runway", "runway:test", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0 and "runway" in ran.stdout, ran.stderr
    user = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Config.User}}", "runway:test"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert user.stdout.strip() == "10001:10001"
