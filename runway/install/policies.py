"""What guards runway's own rights and namespace, as manifests (pure): the admission policy
that narrows its cluster-wide rights to environments' namespaces, and the NetworkPolicies of its
namespace."""

from __future__ import annotations

import json
from typing import Any

from runway.install.meta import (
    ENVIRONMENT_MANAGED_BY,
    HTTP_PORT,
    MANAGED_BY,
    POSTGRES,
    POSTGRES_LABELS,
    SERVER_LABELS,
    SSH_CONTAINER_PORT,
    metadata,
)
from runway.install.options import ENVIRONMENT_PREFIX, InstallOptions
from runway.install.rbac import RBAC

ADMISSION = "admissionregistration.k8s.io"


def service_account_user(options: InstallOptions) -> str:
    """The user runway's pods are to the API server."""
    return f"system:serviceaccount:{options.namespace}:runway"


def _labelled(value: str) -> str:
    """CEL: `value` carries the managed-by label of environments' namespaces."""
    key = json.dumps(MANAGED_BY)
    return (
        f"has({value}.metadata.labels) && {key} in {value}.metadata.labels && "
        f"{value}.metadata.labels[{key}] == {json.dumps(ENVIRONMENT_MANAGED_BY)}"
    )


def admission_validations(options: InstallOptions) -> list[dict[str, str]]:
    """What the admission policy lets runway's ServiceAccount do with namespaces and
    RoleBindings (CEL). RBAC cannot say it: it grants namespaces and RoleBindings by verb,
    everywhere. So runway, or whoever holds its token, could otherwise bind itself the tenant
    role (Secrets, workloads) in any namespace, kube-system too, or delete any namespace.

    `request.operation` says which of `object` (none for DELETE) and `oldObject` (none for
    CREATE) exists; an expression that fails to evaluate denies (failurePolicy Fail)."""
    prefix = json.dumps(ENVIRONMENT_PREFIX)
    namespaces = 'request.resource.resource != "namespaces" || '
    bindings = 'request.resource.resource != "rolebindings" || '
    subject = (
        'object.subjects[0].kind == "ServiceAccount" && object.subjects[0].name == "runway" '
        f"&& object.subjects[0].namespace == {json.dumps(options.namespace)}"
    )
    return [
        {
            "expression": f"{namespaces}request.name.startsWith({prefix})",
            "message": f"runway manages only environments' namespaces ({ENVIRONMENT_PREFIX}...)",
        },
        {
            "expression": f"{namespaces}("
            f'(request.operation == "DELETE" || ({_labelled("object")})) && '
            f'(request.operation == "CREATE" || ({_labelled("oldObject")})))',
            "message": f"runway manages only namespaces labelled {MANAGED_BY}="
            f"{ENVIRONMENT_MANAGED_BY}, before and after",
        },
        {
            "expression": f"{bindings}("
            f"namespaceObject.metadata.name.startsWith({prefix}) && "
            f"{_labelled('namespaceObject')})",
            "message": "runway binds roles only in environments' namespaces",
        },
        {
            "expression": f'{bindings}request.operation == "DELETE" || ('
            f'object.roleRef.kind == "ClusterRole" && '
            f"object.roleRef.name == {json.dumps(options.tenant_role)})",
            "message": f"runway binds only the ClusterRole {options.tenant_role}",
        },
        {
            "expression": f'{bindings}request.operation == "DELETE" || (has(object.subjects) && '
            f"object.subjects.size() == 1 && {subject})",
            "message": f"runway binds roles only to its own ServiceAccount "
            f"({options.namespace}/runway)",
        },
    ]


def admission_policy(options: InstallOptions) -> dict[str, Any]:
    """Narrows runway's cluster-wide rights (Kubernetes 1.30 or later): its ServiceAccount
    creates, changes and deletes only namespaces named and labelled as environments' are, and
    RoleBindings only there, of the tenant role, to itself (`admission_validations`)."""
    rules = [
        {
            "apiGroups": [group],
            "apiVersions": ["*"],
            "resources": [resource],
            "operations": ["CREATE", "UPDATE", "DELETE"],
        }
        for group, resource in (("", "namespaces"), (RBAC, "rolebindings"))
    ]
    return {
        "apiVersion": f"{ADMISSION}/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": metadata(options, options.admission_policy, namespaced=False),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": rules},
            "matchConditions": [
                {
                    "name": "runway-service-account",
                    "expression": f"request.userInfo.username == "
                    f"{json.dumps(service_account_user(options))}",
                }
            ],
            "validations": admission_validations(options),
        },
    }


def admission_policy_binding(options: InstallOptions) -> dict[str, Any]:
    return {
        "apiVersion": f"{ADMISSION}/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": metadata(options, options.admission_policy, namespaced=False),
        "spec": {"policyName": options.admission_policy, "validationActions": ["Deny"]},
    }


def network_policies(options: InstallOptions) -> list[dict[str, Any]]:
    """runway's namespace admits: its HTTP port from the ingress controller's namespace only
    (so no tenant pod reaches it directly, or forges X-Forwarded-For), its SSH port from
    anywhere (when served), its Postgres from runway's server pods only."""
    controller = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": options.ingress_namespace}
        }
    }
    server_rules: list[dict[str, Any]] = [
        {"from": [controller], "ports": [{"protocol": "TCP", "port": HTTP_PORT}]}
    ]
    if options.ssh_port is not None:
        server_rules.append({"ports": [{"protocol": "TCP", "port": SSH_CONTAINER_PORT}]})
    policies = [_network_policy(options, "runway-server", SERVER_LABELS, server_rules)]
    if options.database_url is None:
        servers = {"podSelector": {"matchLabels": SERVER_LABELS}}
        database_rules = [{"from": [servers], "ports": [{"protocol": "TCP", "port": 5432}]}]
        policies.append(_network_policy(options, POSTGRES, POSTGRES_LABELS, database_rules))
    return policies


def _network_policy(
    options: InstallOptions, name: str, pods: dict[str, str], rules: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(options, name),
        "spec": {
            "podSelector": {"matchLabels": pods},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }
