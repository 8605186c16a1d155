"""Rendering as the cluster will see it: the exact objects of the blog, every example, and the
promises a person relies on (no secret outside a Secret, no restart for a new number, no clash)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import textwrap
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from runway.config.model import Answer, Config
from runway.deploy import (
    CertManagerTls,
    ExistingTls,
    RenderError,
    RenderSettings,
    SecretRef,
    Target,
    names,
    render_step,
)
from runway.deploy.render_values import fingerprint
from runway.planner import Plan, StepKind, plan_source

EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
NAMESPACE = "rw-ann-prod"
SETTINGS = RenderSettings(ingress_class="nginx", tls=CertManagerTls("letsencrypt"))


def example(name: str) -> Plan:
    return plan_source((EXAMPLES / name).read_bytes())


def answered(
    config: Config,
    deployment: int = 7,
    secret_value: str = "s3cret",
    settings: RenderSettings = SETTINGS,
    **answers: Answer,
) -> Target:
    """A target where every input is answered: defaults, the first choice, or a plausible text;
    each secret input stored as version 1 and known as `secret_value`."""
    given: dict[str, Answer] = {}
    refs: dict[str, SecretRef] = {}
    values: dict[str, str] = {}
    for name, spec in config.inputs.items():
        if spec.secret:
            refs[name] = SecretRef(names.input_secret_name(config.app, name, 1), "value")
            values[name] = secret_value
        elif name in answers:
            given[name] = answers[name]
        elif spec.default is not None:
            given[name] = spec.default
        elif spec.choices:
            given[name] = spec.choices[0]
        else:
            given[name] = f"https://{name.replace('_', '-')}.example.org"
    return Target(NAMESPACE, "prod", deployment, given, refs, values, settings)


def blog_target(deployment: int = 7, **overrides: Any) -> Target:
    answers = {"domain": "blog.example.org", "admin_email": "ann@example.org", "theme": "dark"}
    target = answered(example("blog.yaml").config, deployment, **answers)
    return Target(**{**_fields(target), **overrides})


def _fields(target: Target) -> dict[str, Any]:
    return {name: getattr(target, name) for name in Target.__dataclass_fields__}


def render_all(plan: Plan, target: Target) -> list[dict[str, Any]]:
    return [m for step in plan.steps for m in render_step(plan, step.name, target)]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def labels(service: str, app: str = "blog", deployment: int = 7) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/instance": app,
        "app.kubernetes.io/managed-by": "runway",
        "runway.dev/environment": "prod",
        "runway.dev/app": app,
        "runway.dev/deployment": str(deployment),
    }


def pod_labels(service: str, app: str = "blog") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/instance": app,
        "app.kubernetes.io/managed-by": "runway",
    }


def meta(name: str, service: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": labels(service), **extra}


DB_URL = "postgres://blog:s3cret@blog-db.rw-ann-prod.svc:5432/blog"
# The env Secret is named after what it holds, the password stood in for by its versioned Secret.
DB_URL_STAND_IN = (
    "postgres://blog:\x00blog-db-password-1/value\x00@blog-db.rw-ann-prod.svc:5432/blog"
)
ENV_SECRET = names.env_secret_name(
    "blog", "{service}", fingerprint({"DATABASE_URL": DB_URL_STAND_IN})
)


def env_secret(service: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(ENV_SECRET.format(service=service), service),
        "immutable": True,
        "type": "Opaque",
        "stringData": {"DATABASE_URL": DB_URL},
    }


def from_env_secret(service: str) -> dict[str, Any]:
    ref = {"name": ENV_SECRET.format(service=service), "key": "DATABASE_URL"}
    return {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": ref}}


# The blog, object by object.


def test_the_blog_database_is_a_volume_claim_a_recreated_deployment_and_a_service():
    plan = example("blog.yaml")
    assert render_step(plan, "db", blog_target()) == [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta("blog-db-data", "db"),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "2Gi"}},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta("blog-db", "db"),
            "spec": {
                "replicas": 1,
                "selector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "db",
                        "app.kubernetes.io/instance": "blog",
                    }
                },
                "strategy": {"type": "Recreate"},
                "template": {
                    "metadata": {"labels": pod_labels("db")},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "containers": [
                            {
                                "name": "db",
                                "image": "postgres:16.4",
                                "env": [
                                    {"name": "POSTGRES_USER", "value": "blog"},
                                    {
                                        "name": "POSTGRES_PASSWORD",
                                        "valueFrom": {
                                            "secretKeyRef": {
                                                "name": "blog-db-password-1",
                                                "key": "value",
                                            }
                                        },
                                    },
                                ],
                                "ports": [
                                    {"name": "p5432", "containerPort": 5432, "protocol": "TCP"}
                                ],
                                "readinessProbe": {"tcpSocket": {"port": 5432}},
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/postgresql/data"}
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "data", "persistentVolumeClaim": {"claimName": "blog-db-data"}}
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta("blog-db", "db"),
            "spec": {
                "type": "ClusterIP",
                "selector": {"app.kubernetes.io/name": "db", "app.kubernetes.io/instance": "blog"},
                "ports": [{"name": "p5432", "port": 5432, "targetPort": 5432, "protocol": "TCP"}],
            },
        },
    ]


def test_the_blog_migration_is_a_job_named_with_the_deployment_and_its_url_in_a_secret():
    plan = example("blog.yaml")
    assert render_step(plan, "migrate", blog_target()) == [
        env_secret("migrate"),
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta("blog-migrate-7", "migrate"),
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": pod_labels("migrate")},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "containers": [
                            {
                                "name": "migrate",
                                "image": "ghcr.io/example/blog:2.3.0",
                                "command": ["blog", "migrate"],
                                "env": [from_env_secret("migrate")],
                            }
                        ],
                        "restartPolicy": "Never",
                    },
                },
            },
        },
    ]


def test_the_blog_web_server_has_an_http_probe_a_service_and_an_ingress_with_tls():
    plan = example("blog.yaml")
    selector = {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "blog"}
    assert render_step(plan, "web", blog_target()) == [
        env_secret("web"),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta("blog-web", "web"),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": pod_labels("web")},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "containers": [
                            {
                                "name": "web",
                                "image": "ghcr.io/example/blog:2.3.0",
                                "env": [
                                    from_env_secret("web"),
                                    {"name": "SITE_URL", "value": "https://blog.example.org"},
                                    {"name": "ADMIN_EMAIL", "value": "ann@example.org"},
                                    {"name": "THEME", "value": "dark"},
                                ],
                                "ports": [
                                    {"name": "p8080", "containerPort": 8080, "protocol": "TCP"}
                                ],
                                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta("blog-web", "web"),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "p8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta(
                "blog-web", "web", annotations={"cert-manager.io/cluster-issuer": "letsencrypt"}
            ),
            "spec": {
                "ingressClassName": "nginx",
                "rules": [
                    {
                        "host": "blog.example.org",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": "blog-web", "port": {"number": 8080}}
                                    },
                                }
                            ]
                        },
                    }
                ],
                "tls": [{"hosts": ["blog.example.org"], "secretName": "blog-web-tls"}],
            },
        },
    ]


def test_the_blog_worker_without_a_probe_waits_ten_seconds_before_counting_as_available():
    plan = example("blog.yaml")
    secret, deployment = render_step(plan, "worker", blog_target())
    assert secret == env_secret("worker")
    assert deployment["spec"]["minReadySeconds"] == 10
    assert "readinessProbe" not in deployment["spec"]["template"]["spec"]["containers"][0]
    assert "strategy" not in deployment["spec"]  # no volume: the default rolling update


# Every example.


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_step_of_every_example_renders_with_runway_labels_and_no_token(path: Path):
    plan = plan_source(path.read_bytes())
    target = answered(plan.config)
    for step in plan.steps:
        manifests = render_step(plan, step.name, target)
        kinds = [m["kind"] for m in manifests]
        workload = "Job" if step.kind is StepKind.JOB else "Deployment"
        assert kinds.count(workload) == 1
        # Secrets and claims before the workload; Service and Ingress after it.
        order = ["Secret", "PersistentVolumeClaim", workload, "Service", "Ingress"]
        assert kinds == sorted(kinds, key=order.index)
        for manifest in manifests:
            assert manifest["metadata"]["namespace"] == NAMESPACE
            assert manifest["metadata"]["labels"] == labels(step.name, plan.app)
            if manifest["kind"] != "Secret":
                assert len(manifest["metadata"]["name"]) <= 63
        pod = next(m for m in manifests if m["kind"] == workload)["spec"]["template"]
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert pod["metadata"]["labels"] == pod_labels(step.name, plan.app)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_object_passes_the_kubernetes_schema_with_no_unknown_field(path: Path):
    plan = plan_source(path.read_bytes())
    settings = RenderSettings("nginx", ExistingTls("wildcard"), "fast")
    for manifest in render_all(plan, answered(plan.config, settings=settings)):
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_rendering_twice_gives_the_same_bytes(path: Path):
    plan = plan_source(path.read_bytes())
    assert dumps(render_all(plan, answered(plan.config))) == dumps(
        render_all(plan, answered(plan.config))
    )


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_a_secret_value_is_found_in_secrets_only(path: Path):
    plan = plan_source(path.read_bytes())
    canary = f"canary-{secrets.token_hex(8)}"
    manifests = render_all(plan, answered(plan.config, secret_value=canary))
    for manifest in manifests:
        if manifest["kind"] != "Secret":
            assert canary not in dumps(manifest), manifest["metadata"]["name"]
    composes = {"blog.yaml": True, "notes.yaml": True}.get(path.name, False)
    in_secrets = [m for m in manifests if m["kind"] == "Secret" and canary in dumps(m)]
    assert bool(in_secrets) is composes  # the walk above looks where the value could be


# A new deployment.


def without_deployment_label(manifests: list[dict[str, Any]]) -> str:
    copies = json.loads(dumps(manifests))
    for manifest in copies:
        del manifest["metadata"]["labels"]["runway.dev/deployment"]
    return dumps(copies)


@pytest.mark.parametrize(
    ("path", "step"), [("blog.yaml", "db"), ("hello.yaml", "web")], ids=["blog-db", "hello-web"]
)
def test_a_new_deployment_of_an_unchanged_service_changes_its_labels_only(path: str, step: str):
    plan = example(path)
    before = render_step(plan, step, answered(plan.config, deployment=7))
    after = render_step(plan, step, answered(plan.config, deployment=8))
    assert without_deployment_label(before) == without_deployment_label(after)
    assert {m["metadata"]["labels"]["runway.dev/deployment"] for m in after} == {"8"}
    workload = next(m for m in before if m["kind"] == "Deployment")
    assert dumps(workload["spec"]) == dumps(
        next(m for m in after if m["kind"] == "Deployment")["spec"]
    )


def test_a_composed_secret_keeps_its_name_until_a_value_in_it_changes():
    plan = example("blog.yaml")
    before = render_step(plan, "web", blog_target(7))
    after = render_step(plan, "web", blog_target(8))
    # A new deployment with the same answers: labels only, so web's pods are not restarted.
    assert without_deployment_label(before) == without_deployment_label(after)
    # A new password is a new version of its Secret: a new env Secret, and a new pod template.
    target = blog_target(8)
    refs = {**target.secrets, "db_password": SecretRef("blog-db-password-2", "value")}
    changed = render_step(plan, "web", Target(**{**_fields(target), "secrets": refs}))
    old_name = next(m for m in after if m["kind"] == "Secret")["metadata"]["name"]
    new_name = next(m for m in changed if m["kind"] == "Secret")["metadata"]["name"]
    assert old_name != new_name
    assert new_name.startswith("blog-web-env-")


def test_a_redeploy_that_changes_an_env_value_keeps_selectors_and_runs_a_new_job():
    source = (EXAMPLES / "blog.yaml").read_text()
    changed = source.replace("SITE_URL: https://", "SITE_URL: http://")
    assert changed != source
    old = render_all(plan_source(source), blog_target(7))
    new = render_all(plan_source(changed), blog_target(8))

    def selectors(manifests):
        return {
            (m["kind"], m["metadata"]["name"]): m["spec"]["selector"]
            for m in manifests
            if m["kind"] in ("Deployment", "Service")
        }

    assert selectors(old) == selectors(new)
    assert len(selectors(new)) == 5  # db, web and worker Deployments; db and web Services
    jobs = [m["metadata"]["name"] for ms in (old, new) for m in ms if m["kind"] == "Job"]
    assert jobs == ["blog-migrate-7", "blog-migrate-8"]
    (web,) = [m for m in new if (m["kind"], m["metadata"]["name"]) == ("Deployment", "blog-web")]
    env = web["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[1] == {"name": "SITE_URL", "value": "http://blog.example.org"}


def test_apps_sharing_a_namespace_never_share_an_object_name():
    taken: dict[tuple[str, str], str] = {}
    for path in EXAMPLE_FILES:
        plan = plan_source(path.read_bytes())
        for manifest in render_all(plan, answered(plan.config)):
            key = (manifest["kind"], manifest["metadata"]["name"])
            assert key not in taken, f"{key} of {plan.app} is already {taken[key]}'s"
            taken[key] = plan.app
    hello = (EXAMPLES / "hello.yaml").read_text()
    twin = plan_source(hello.replace("app: hello", "app: hello2"))
    twin_names = {m["metadata"]["name"] for m in render_all(twin, answered(twin.config))}
    assert twin_names == {"hello2-web"}
    assert ("Deployment", "hello-web") in taken


# The private registry, the installation's settings, other values.


def test_notes_pulls_with_its_registry_credentials_and_claims_from_the_storage_class():
    plan = example("notes.yaml")
    settings = RenderSettings(tls=ExistingTls("wildcard-tls"), storage_class="fast")
    target = answered(
        plan.config, secret_value="tok3n", settings=settings, host="notes.example.org"
    )
    pull, claim, deployment, service, ingress = render_step(plan, "app", target)
    assert re.fullmatch(r"notes-app-registry-[0-9a-f]{10}", pull["metadata"]["name"])
    assert (pull["type"], pull["immutable"]) == ("kubernetes.io/dockerconfigjson", True)
    auths = json.loads(pull["stringData"][".dockerconfigjson"])["auths"]
    assert list(auths) == ["registry.example.com"]
    entry = auths["registry.example.com"]
    assert (entry["username"], entry["password"]) == ("notes-deploy", "tok3n")
    assert base64.b64decode(entry["auth"]) == b"notes-deploy:tok3n"
    assert claim["metadata"]["name"] == "notes-app-files"
    assert claim["spec"]["storageClassName"] == "fast"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": pull["metadata"]["name"]}]
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert service["spec"]["ports"][0]["port"] == 3000
    assert "annotations" not in ingress["metadata"]
    assert "ingressClassName" not in ingress["spec"]
    assert ingress["spec"]["tls"] == [
        {"hosts": ["notes.example.org"], "secretName": "wildcard-tls"}
    ]


def test_without_tls_or_classes_the_ingress_and_claims_leave_them_to_the_cluster():
    plan = example("blog.yaml")
    target = blog_target(settings=RenderSettings())
    claim = render_step(plan, "db", target)[0]
    ingress = render_step(plan, "web", target)[-1]
    assert "storageClassName" not in claim["spec"]
    assert "tls" not in ingress["spec"]
    assert "ingressClassName" not in ingress["spec"]
    assert "annotations" not in ingress["metadata"]


def test_pipeline_jobs_write_numbers_and_booleans_as_text_and_retry_as_configured():
    plan = example("pipeline.yaml")
    target = answered(plan.config, source_url="https://data.example.org/raw")
    (fetch,) = render_step(plan, "fetch", target)
    container = fetch["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["fetch", "https://data.example.org/raw", "--rows", "10000"]
    assert fetch["spec"]["backoffLimit"] == 3
    assert "ttlSecondsAfterFinished" not in fetch["spec"]
    (rates,) = render_step(plan, "fetch-rates", target)  # one secret reference: no Secret made
    assert rates["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {
            "name": "RATES_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "pipeline-api-key-1", "key": "value"}},
        }
    ]
    (report,) = render_step(plan, "report", target)
    assert report["metadata"]["name"] == "pipeline-report-7"
    assert report["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "false"


def test_service_urls_name_the_service_in_the_namespace_with_its_first_port():
    plan = plan_source(
        textwrap.dedent(
            """\
            runway: 1
            app: shop
            services:
              api:
                image: shop/api:1
                ports: [9000, 9001]
              front:
                image: shop/front:1
                args: [--api, "${{ services.api.url }}", --host, "${{ services.api.host }}"]
            """
        )
    )
    (deployment,) = render_step(plan, "front", Target(NAMESPACE, "prod", 3))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--api",
        "http://shop-api.rw-ann-prod.svc:9000",
        "--host",
        "shop-api.rw-ann-prod.svc",
    ]


# What rendering refuses.


def test_a_missing_answer_is_named():
    plan = example("blog.yaml")
    answers = {"admin_email": "ann@example.org", "theme": "light"}
    with pytest.raises(
        RenderError, match="step 'web' needs input 'domain', which has no answer yet"
    ):
        render_step(plan, "web", blog_target(answers=answers))


def test_a_secret_input_without_its_secret_is_named_with_where_it_is_used():
    plan = example("blog.yaml")
    with pytest.raises(
        RenderError,
        match=r"services\.db\.env\.POSTGRES_PASSWORD: no Secret holds the value of secret input 'db_password'",
    ):
        render_step(plan, "db", blog_target(secrets={}))


def test_a_composed_value_without_its_secret_value_is_named_with_where_it_is_used():
    plan = example("blog.yaml")
    with pytest.raises(
        RenderError,
        match=r"services\.migrate\.env\.DATABASE_URL: the value of secret input 'db_password' is needed",
    ):
        render_step(plan, "migrate", blog_target(secret_values={}))


def test_an_unknown_step_is_refused():
    with pytest.raises(RenderError, match="the plan has no step 'cache'"):
        render_step(example("blog.yaml"), "cache", blog_target())


def test_a_job_name_past_63_characters_is_refused():
    app, job = "a" * 20, "j" * 30
    plan = plan_source(f"runway: 1\napp: {app}\nservices:\n  {job}: {{kind: job, image: x:1}}\n")
    longest = render_step(plan, job, Target(NAMESPACE, "prod", 10**10))[0]["metadata"]["name"]
    assert len(longest) == 63
    with pytest.raises(RenderError, match="longer than 63 characters"):
        render_step(plan, job, Target(NAMESPACE, "prod", 10**11))


def test_secret_names_write_the_inputs_underscores_as_dashes():
    assert names.input_secret_name("blog", "db_password", 3) == "blog-db-password-3"
