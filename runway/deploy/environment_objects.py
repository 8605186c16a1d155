"""An environment's namespace and its guards, as manifests (DESIGN.md, Kubernetes). Pure: no
I/O, no client; runway.deploy.environments applies them.

The guards: a ResourceQuota from the owner's quota with no NodePort or LoadBalancer Service; a
LimitRange whose container defaults cover every resource the quota can limit (without them a
pod that names no CPU request is refused by the quota); a NetworkPolicy admitting only the same
namespace and the ingress controller's; Pod Security admission labels; and the RoleBinding that
gives runway's service account its tenant role there, so runway needs no cluster-wide rights
over workloads or Secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "runway"
OWNER_LABEL = "runway.dev/owner"
ENVIRONMENT_LABEL = "runway.dev/environment"
GUARD_NAME = "runway"
"""The name of the quota, limit range, network policy and role binding in each namespace."""

NO_EXTERNAL_SERVICES = {"services.nodeports": "0", "services.loadbalancers": "0"}
"""Tenants reach the outside only through the ingress controller."""


@dataclass(frozen=True, slots=True)
class EnvironmentSettings:
    """The installation's side of every environment: runway's own service account and the
    ClusterRole it is bound to in each namespace, where the ingress controller runs, the quota
    of an owner who has none of their own, and the container defaults of the LimitRange."""

    service_account: str = "runway"
    service_account_namespace: str = "runway"
    tenant_role: str = "runway-tenant"
    ingress_namespace: str = "ingress-nginx"
    default_quota: Mapping[str, str] = field(
        default_factory=lambda: {
            "requests.cpu": "2",
            "requests.memory": "4Gi",
            "limits.cpu": "4",
            "limits.memory": "8Gi",
            "requests.storage": "20Gi",
            "persistentvolumeclaims": "10",
            "pods": "50",
        }
    )
    default_requests: Mapping[str, str] = field(
        default_factory=lambda: {"cpu": "100m", "memory": "128Mi"}
    )
    default_limits: Mapping[str, str] = field(
        default_factory=lambda: {"cpu": "500m", "memory": "512Mi"}
    )


@dataclass(frozen=True, slots=True)
class EnvironmentSpec:
    """One environment: its namespace (named by the store), its owner and name, and the
    owner's quota (Kubernetes quantities by resource; empty: the installation's default)."""

    namespace: str
    owner: str
    environment: str
    quota: Mapping[str, str] = field(default_factory=dict)


def namespace_labels(spec: EnvironmentSpec) -> dict[str, str]:
    """The namespace's labels: runway's own, and Pod Security admission's."""
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        OWNER_LABEL: spec.owner,
        ENVIRONMENT_LABEL: spec.environment,
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
    }


def is_ours(namespace: Mapping[str, Any]) -> bool:
    """Whether an existing namespace carries runway's label (runway adopts no other)."""
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY_LABEL) == MANAGED_BY)


def is_terminating(namespace: Mapping[str, Any]) -> bool:
    """Whether a namespace is being deleted."""
    metadata = namespace.get("metadata") or {}
    phase = (namespace.get("status") or {}).get("phase")
    return bool(metadata.get("deletionTimestamp")) or phase == "Terminating"


def namespace(spec: EnvironmentSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.namespace, "labels": namespace_labels(spec)},
    }


def resource_quota(spec: EnvironmentSpec, settings: EnvironmentSettings) -> dict[str, Any]:
    hard = dict(spec.quota or settings.default_quota) | NO_EXTERNAL_SERVICES
    return _namespaced(spec, "v1", "ResourceQuota", {"spec": {"hard": dict(sorted(hard.items()))}})


def limit_range(spec: EnvironmentSpec, settings: EnvironmentSettings) -> dict[str, Any]:
    """Container defaults for CPU and memory, requests and limits alike, whatever the quota
    limits: a quota on `requests.cpu` refuses a pod that names no CPU request, and the quota
    may change without the LimitRange being rendered again."""
    limit = {
        "type": "Container",
        "default": dict(settings.default_limits),
        "defaultRequest": dict(settings.default_requests),
    }
    return _namespaced(spec, "v1", "LimitRange", {"spec": {"limits": [limit]}})


def network_policy(spec: EnvironmentSpec, settings: EnvironmentSettings) -> dict[str, Any]:
    """Every pod of the namespace accepts traffic only from the same namespace and from the
    ingress controller's. Egress is left open (images, databases outside)."""
    same: dict[str, Any] = {"podSelector": {}}
    ingress = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": settings.ingress_namespace}
        }
    }
    body = {
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [same, ingress]}],
        }
    }
    return _namespaced(spec, "networking.k8s.io/v1", "NetworkPolicy", body)


def role_binding(spec: EnvironmentSpec, settings: EnvironmentSettings) -> dict[str, Any]:
    body = {
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": settings.tenant_role,
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "apiGroup": "",
                "name": settings.service_account,
                "namespace": settings.service_account_namespace,
            }
        ],
    }
    return _namespaced(spec, "rbac.authorization.k8s.io/v1", "RoleBinding", body)


def guards(spec: EnvironmentSpec, settings: EnvironmentSettings) -> list[dict[str, Any]]:
    """The objects that go into the namespace, in the order they are applied."""
    return [
        role_binding(spec, settings),
        resource_quota(spec, settings),
        limit_range(spec, settings),
        network_policy(spec, settings),
    ]


def _namespaced(
    spec: EnvironmentSpec, api_version: str, kind: str, body: dict[str, Any]
) -> dict[str, Any]:
    labels = {MANAGED_BY_LABEL: MANAGED_BY, ENVIRONMENT_LABEL: spec.environment}
    metadata = {"name": GUARD_NAME, "namespace": spec.namespace, "labels": labels}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
