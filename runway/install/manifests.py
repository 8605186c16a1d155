"""Everything an installation puts into the cluster, as manifests (pure: no I/O).

In the order they are applied: the namespace, runway's ServiceAccount and its rights (the
cluster-wide ClusterRole and its binding, the tenant ClusterRole, and the admission policy that
narrows the cluster-wide ones to environments' namespaces), the NetworkPolicies of runway's
namespace, the database's Secret and, unless an existing database is used, Postgres (a headless
Service and a StatefulSet whose claim holds the data), then runway itself (Deployment,
PodDisruptionBudget, Service, Ingress)."""

from __future__ import annotations

import base64
from typing import Any

from runway.install.meta import (
    DATA_CLAIM,
    DATABASE_CLAIM,
    DATABASE_SECRET,
    HTTP_PORT,
    INSTALLER,
    MANAGED_BY,
    METRICS_SECRET,
    PART_OF,
    POSTGRES,
    POSTGRES_LABELS,
    POSTGRES_USER,
    SERVER_LABELS,
    SSH_CONTAINER_PORT,
    labels,
    metadata,
)
from runway.install.options import InstallOptions
from runway.install.policies import admission_policy, admission_policy_binding, network_policies
from runway.install.rbac import RBAC, TENANT_RULES, Rule, cluster_rules

__all__ = [
    "DATABASE_CLAIM",
    "DATABASE_SECRET",
    "INSTALLER",
    "MANAGED_BY",
    "PART_OF",
    "POSTGRES",
    "render",
]

_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def render(
    options: InstallOptions, password: str | None, metrics_token: str
) -> list[dict[str, Any]]:
    """Every object of the installation, in the order it is applied. `password` is the
    database password of runway's own Postgres (None with `database_url`); `metrics_token`
    the bearer token `/metrics` wants."""
    objects = [
        namespace(options),
        service_account(options),
        cluster_role(options),
        cluster_role_binding(options),
        tenant_role(options),
        admission_policy(options),
        admission_policy_binding(options),
        *network_policies(options),
        database_secret(options, password),
        metrics_secret(options, metrics_token),
    ]
    if options.database_url is None:
        objects += [postgres_service(options), postgres(options)]
    objects += [deployment(options), disruption_budget(options), service(options)]
    objects.append(ingress(options))
    return objects


def namespace(options: InstallOptions) -> dict[str, Any]:
    meta = metadata(options, options.namespace, namespaced=False)
    meta["labels"] |= {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(options: InstallOptions) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(options, "runway")}


def _role(options: InstallOptions, name: str, rules: tuple[Rule, ...]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": metadata(options, name, namespaced=False),
        "rules": [rule.policy() for rule in rules],
    }


def cluster_role(options: InstallOptions) -> dict[str, Any]:
    """What runway holds everywhere (runway.install.rbac.cluster_rules)."""
    return _role(options, options.cluster_role, cluster_rules(options.tenant_role))


def tenant_role(options: InstallOptions) -> dict[str, Any]:
    """What runway holds in each environment's namespace, once bound there."""
    return _role(options, options.tenant_role, TENANT_RULES)


def cluster_role_binding(options: InstallOptions) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(options, options.cluster_role, namespaced=False),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": options.cluster_role},
        "subjects": [{"kind": "ServiceAccount", "name": "runway", "namespace": options.namespace}],
    }


def database_url(options: InstallOptions, password: str | None) -> str:
    """How runway reaches its database: the one given, or its own Postgres."""
    if options.database_url is not None:
        return options.database_url
    host = f"{POSTGRES}.{options.namespace}.svc"
    return f"postgresql://{POSTGRES_USER}:{password}@{host}:5432/runway"


def database_secret(options: InstallOptions, password: str | None) -> dict[str, Any]:
    """The database's URL (and its own Postgres's password): in a Secret, never in the
    Deployment's manifest."""
    data = {"url": database_url(options, password)}
    if options.database_url is None:
        if not password:
            raise ValueError("runway's own Postgres needs a password")
        data["password"] = password
    return _secret(options, DATABASE_SECRET, data)


def metrics_secret(options: InstallOptions, token: str) -> dict[str, Any]:
    """The token a scraper of `/metrics` sends (runway's Deployment reads it from here)."""
    if not token:
        raise ValueError("/metrics needs a token")
    return _secret(options, METRICS_SECRET, {"token": token})


def _secret(options: InstallOptions, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(options, name),
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def postgres_service(options: InstallOptions) -> dict[str, Any]:
    """The headless Service that names the StatefulSet's pod (runway-postgres.NS.svc)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(options, POSTGRES),
        "spec": {
            "clusterIP": "None",
            "selector": POSTGRES_LABELS,
            "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres"}],
        },
    }


def postgres(options: InstallOptions) -> dict[str, Any]:
    """runway's own Postgres: one replica, its data on a claim the StatefulSet keeps when it
    is deleted (so `runway uninstall` keeps the data unless told otherwise)."""
    password = {"secretKeyRef": {"name": DATABASE_SECRET, "key": "password"}}
    ready = {"exec": {"command": ["pg_isready", "-U", POSTGRES_USER, "-d", "runway"]}}
    container = {
        "name": "postgres",
        "image": options.postgres_image,
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "env": [
            {"name": "POSTGRES_USER", "value": POSTGRES_USER},
            {"name": "POSTGRES_DB", "value": "runway"},
            {"name": "POSTGRES_PASSWORD", "valueFrom": password},
            # A directory below the mount: a fresh volume's lost+found stays out of initdb's way.
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "volumeMounts": [{"name": DATA_CLAIM, "mountPath": "/var/lib/postgresql/data"}],
        "readinessProbe": {**ready, "periodSeconds": 5},
        "livenessProbe": {**ready, "periodSeconds": 20, "failureThreshold": 6},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "1Gi"},
        },
        "securityContext": _RESTRICTED,
    }
    claim: dict[str, Any] = {
        "metadata": {"name": DATA_CLAIM, "labels": labels(options, POSTGRES_LABELS)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": options.database_size}},
        },
    }
    if options.storage_class:
        claim["spec"]["storageClassName"] = options.storage_class
    pod = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 999,  # the postgres image's own user
            "runAsGroup": 999,
            "fsGroup": 999,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "containers": [container],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(options, POSTGRES),
        "spec": {
            "serviceName": POSTGRES,
            "replicas": 1,
            "selector": {"matchLabels": POSTGRES_LABELS},
            "template": {"metadata": {"labels": labels(options, POSTGRES_LABELS)}, "spec": pod},
            "volumeClaimTemplates": [claim],
        },
    }


def server_environment(options: InstallOptions) -> list[dict[str, Any]]:
    """`runway serve`'s flags, as the RUNWAY_* variables it reads."""
    env: list[dict[str, Any]] = [
        {"name": "RUNWAY_HOST", "value": "0.0.0.0"},
        {"name": "RUNWAY_PORT", "value": str(HTTP_PORT)},
        {"name": "RUNWAY_KUBE", "value": "auto"},
        {"name": "RUNWAY_PUBLIC_URL", "value": options.public_url.rstrip("/")},
        {
            "name": "RUNWAY_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": DATABASE_SECRET, "key": "url"}},
        },
        {
            "name": "RUNWAY_METRICS_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": METRICS_SECRET, "key": "token"}},
        },
        # Each pod's name names it in leases, events and its User-Agent.
        {"name": "RUNWAY_INSTANCE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "RUNWAY_DATA_DIR", "value": "/var/lib/runway"},
        # What every environment's namespace gets: the RoleBinding to runway's ServiceAccount
        # (in the namespace the pod runs in) and the tenant role, and the NetworkPolicy that
        # admits the ingress controller's namespace.
        {
            "name": "RUNWAY_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        },
        {"name": "RUNWAY_TENANT_ROLE", "value": options.tenant_role},
        {"name": "RUNWAY_INGRESS_NAMESPACE", "value": options.ingress_namespace},
    ]
    if options.trusted_proxies:
        env.append({"name": "RUNWAY_TRUSTED_PROXIES", "value": options.trusted_proxies})
    if options.ssh_port is not None:
        env.append({"name": "RUNWAY_SSH_PORT", "value": str(SSH_CONTAINER_PORT)})
    for name, value in installation_settings(options).items():
        env.append({"name": name, "value": value})
    return env


STARTUP_PERIOD = 10
STARTUP_FAILURES = 180
"""runway's startup probe: /healthz is asked every STARTUP_PERIOD seconds, for up to
STARTUP_PERIOD * STARTUP_FAILURES (30 minutes), before the liveness probe takes over. `runway
serve` answers HTTP only once it has migrated the database (or waited for another instance
migrating it), and an upgrade's migration of a large database can take minutes: the liveness
probe alone would restart the pod in the middle of it, and the next start would begin again."""

SETTINGS_PENDING: frozenset[str] = frozenset()
"""The installation settings `runway serve` has no flag for yet (none now): tests/install
checks that every variable the Deployment sets is one `runway serve` reads, but these."""


def installation_settings(options: InstallOptions) -> dict[str, str]:
    """How deployments of apps are rendered in this installation, for `runway serve` (the
    starting values of its installation settings, which admins then edit): the ingress class
    and TLS issuer of apps' Ingresses, the storage and snapshot classes of their volumes, the
    domain their hosts go under, and the quota of a user who has none. runway's own
    `--tls-secret` is not passed on: apps need one in every namespace."""
    given = {
        "RUNWAY_INGRESS_CLASS": options.ingress_class,
        "RUNWAY_STORAGE_CLASS": options.storage_class,
        "RUNWAY_SNAPSHOT_CLASS": options.snapshot_class,
        "RUNWAY_APPS_DOMAIN": options.apps_domain,
        "RUNWAY_CERT_MANAGER_ISSUER": options.cert_manager_issuer,
        "RUNWAY_DEFAULT_QUOTA": ",".join(f"{k}={v}" for k, v in options.default_quota.items()),
    }
    return {name: value for name, value in given.items() if value}


def deployment(options: InstallOptions) -> dict[str, Any]:
    """runway itself: `replicas` instances sharing the database, ready once it answers /readyz
    (database reachable and migrated), restarted when /healthz stops answering once it has
    started (STARTUP_FAILURES: a long migration at start is no reason to restart it)."""
    ports = [{"name": "http", "containerPort": HTTP_PORT}]
    if options.ssh_port is not None:
        ports.append({"name": "ssh", "containerPort": SSH_CONTAINER_PORT})
    container = {
        "name": "runway",
        "image": options.image,  # its entrypoint is `runway serve` (Dockerfile)
        "ports": ports,
        "env": server_environment(options),
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        # /healthz, not /readyz: started means answering; a database that is down then is
        # for readiness to report, not a reason to restart the pod.
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": STARTUP_PERIOD,
            "timeoutSeconds": 5,
            "failureThreshold": STARTUP_FAILURES,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        # Requested: what runway uses idle. Limited: what it may use with every dashboard it
        # allows open (runway.install.options.memory_needed), unless --memory-limit.
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": options.memory},
        },
        "securityContext": {**_RESTRICTED, "readOnlyRootFilesystem": True},
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/runway"},
            {"name": "tmp", "mountPath": "/tmp"},
            # The dashboard's processes may keep a cache or config under $HOME.
            {"name": "home", "mountPath": "/home/runway"},
        ],
    }
    pod = {
        "serviceAccountName": "runway",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # SIGTERM lets runway hand its deployments over at once; then its requests end.
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": [{"name": name, "emptyDir": {}} for name in ("data", "tmp", "home")],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(options, "runway"),
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": SERVER_LABELS},
            # A rollout waiting on a long migration is not stuck: no ProgressDeadlineExceeded
            # (which runway's own wait takes for a failure) before the startup probe gives up.
            "progressDeadlineSeconds": STARTUP_PERIOD * STARTUP_FAILURES + 120,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": {"labels": labels(options, SERVER_LABELS)}, "spec": pod},
        },
    }


def disruption_budget(options: InstallOptions) -> dict[str, Any]:
    """A node drain takes runway's pods one at a time (none when it runs only one)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(options, "runway"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": SERVER_LABELS}},
    }


def service(options: InstallOptions) -> dict[str, Any]:
    """runway's Service: HTTP, and SSH when the dashboard is served over SSH (reach that one
    from outside with a LoadBalancer or NodePort Service of your cluster's kind: an Ingress
    carries HTTP only)."""
    ports: list[dict[str, Any]] = [{"name": "http", "port": 80, "targetPort": "http"}]
    if options.ssh_port is not None:
        ports.append({"name": "ssh", "port": options.ssh_port, "targetPort": "ssh"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(options, "runway"),
        "spec": {"selector": SERVER_LABELS, "ports": ports},
    }


def ingress(options: InstallOptions) -> dict[str, Any]:
    """runway at its public URL. Event streams and the dashboard's websocket stay open for
    long: ingress-nginx is told not to cut them after its default minute."""
    annotations = {
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
        "nginx.ingress.kubernetes.io/proxy-body-size": "2m",
    }
    backend = {"service": {"name": "runway", "port": {"name": "http"}}}
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": options.host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
        ]
    }
    if options.ingress_class:
        spec["ingressClassName"] = options.ingress_class
    if options.cert_manager_issuer:
        annotations["cert-manager.io/cluster-issuer"] = options.cert_manager_issuer
        spec["tls"] = [{"hosts": [options.host], "secretName": "runway-tls"}]
    elif options.tls_secret:
        spec["tls"] = [{"hosts": [options.host], "secretName": options.tls_secret}]
    meta = metadata(options, "runway")
    meta["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}
