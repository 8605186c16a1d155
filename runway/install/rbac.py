"""runway's rights in the cluster, as data: what it must hold cluster-wide, and the tenant role
it binds in each environment's namespace (DESIGN.md: runway holds no cluster-wide rights over
Secrets or workloads).

Each rule says why runway needs it, naming the code that makes the calls; the README lists the
tenant role from here, and tests/install compares the tenant role with the calls a real
deployment makes on the simulated cluster, both ways. Change a rule only with the code that
needs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True, slots=True)
class Rule:
    """One PolicyRule with the reason it is there."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str
    names: tuple[str, ...] = ()
    """resourceNames: the rule covers only these objects (none: every object)."""

    def policy(self) -> dict[str, Any]:
        """The rule as a ClusterRole's `rules` entry."""
        rule: dict[str, Any] = {
            "apiGroups": [self.group],
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }
        if self.names:
            rule["resourceNames"] = list(self.names)
        return rule

    def grants(self) -> set[tuple[str, str, str]]:
        """(verb, group, resource) for each pair the rule allows."""
        return {(v, self.group, r) for v in self.verbs for r in self.resources}


# Server-side apply (runway.deploy.apply) is a PATCH; when the object does not exist yet the
# API server also checks `create`. Apply reads an app's object first (`get`) to refuse one
# that belongs to another app.
_APPLIED = ("get", "create", "patch")

TENANT_RULES: tuple[Rule, ...] = (
    Rule(
        "",
        ("secrets",),
        (*_APPLIED, "list", "delete"),
        "secret answers are stored as immutable Secrets (create) and read back when a step "
        "composes them or their owner reveals one (get); a step applies the Secrets of its "
        "env values and registry credentials (patch); pruning finds an app's Secrets by label "
        "(list) and deletes the ones no deployment or restore point holds (delete)",
    ),
    Rule(
        "",
        ("services", "persistentvolumeclaims"),
        (*_APPLIED, "list", "delete"),
        "a step applies a service's Service and its volumes' claims; pruning lists an app's "
        "objects by label and deletes what the deployment no longer has (a claim only when "
        "its deletion was confirmed by typing). Restore points (runway.deploy.backup): a "
        "backup by copy goes into a new claim (create, get), pruned with its restore point "
        "(delete); a rollback from a snapshot deletes the volume's claim and makes it again "
        "from the snapshot",
    ),
    Rule(
        "",
        ("configmaps",),
        ("list", "delete"),
        "pruning looks for an app's ConfigMaps (runway renders none today, but removes those "
        "an app once had)",
    ),
    Rule(
        "",
        ("pods",),
        ("get", "list", "watch"),
        "readiness watches a workload's pods (crash loops, image pulls); logs find a "
        "workload's pods (list) and look at one whose container has not started (get); a "
        "backup by copy and a rollback wait until the pods of what they scaled to zero are "
        "gone (list)",
    ),
    Rule("", ("pods/log",), ("get",), "container logs are read live when someone asks"),
    Rule(
        "",
        ("resourcequotas", "limitranges"),
        ("create", "patch"),
        "every environment's quota (from its owner's) and container defaults are applied "
        "when it is prepared",
    ),
    Rule(
        "apps",
        ("deployments",),
        (*_APPLIED, "list", "watch", "delete"),
        "a service is a Deployment: applied, watched until ready (list, watch, and a get "
        "when the watch lags), its selector read for logs, pruned when gone; scaled to zero "
        "(patch) for a backup by copy and back after, and a rollback scales all of an app's "
        "(found by label: list) to zero before it puts their volumes back",
    ),
    Rule(
        "apps",
        ("replicasets",),
        ("list", "watch"),
        "readiness follows a Deployment's ReplicaSets, as kubectl's rollout status does",
    ),
    Rule(
        "batch",
        ("jobs",),
        (*_APPLIED, "list", "watch", "delete"),
        "a job is a Job per deployment: applied, watched until done, pruned (with its pods) "
        "when a later deployment succeeded; a backup by copy, and a rollback from one, is "
        "a copy Job: created, read until complete (get), then deleted",
    ),
    Rule(
        "networking.k8s.io",
        ("ingresses",),
        (*_APPLIED, "list", "delete"),
        "an exposed service's Ingress: applied, and pruned when no longer exposed",
    ),
    Rule(
        "networking.k8s.io",
        ("networkpolicies",),
        ("create", "patch"),
        "every environment's NetworkPolicy admits only its own namespace and the ingress "
        "controller",
    ),
    Rule(
        "snapshot.storage.k8s.io",
        ("volumesnapshots",),
        ("get", "create", "delete"),
        "restore points: a volume's snapshot is taken when a deployment starts and by a "
        "rollback (create, then read until ready to use: get), read again before a rollback "
        "counts on it (get), deleted when its restore point is pruned",
    ),
)
"""The tenant role: what runway does inside an environment's namespace, and nothing else."""


def cluster_rules(tenant_role: str) -> tuple[Rule, ...]:
    """What runway must hold cluster-wide: namespaces (an environment's namespace does not
    exist before runway makes it), the RoleBinding that gives it the tenant role in a new
    namespace, and what says whether a volume's backup can be a snapshot."""
    return (
        Rule(
            "",
            ("namespaces",),
            ("get", "create", "patch", "delete"),
            "one namespace per environment: made and labelled when the environment is created "
            "(a terminating one is waited for: get), deleted with it",
        ),
        Rule(
            RBAC,
            ("rolebindings",),
            ("create", "patch"),
            "the RoleBinding that gives runway the tenant role in a new namespace is the first "
            "object there, before runway holds any right in it",
        ),
        Rule(
            RBAC,
            ("clusterroles",),
            ("bind",),
            "binding the tenant role without holding its rights everywhere; only that role, by "
            "name, so runway cannot bind itself anything else",
            names=(tenant_role,),
        ),
        Rule(
            "",
            ("persistentvolumes",),
            ("get",),
            "a bound claim's volume names its CSI driver: whether its backup can be a "
            "snapshot (runway.deploy.backup)",
        ),
        Rule(
            "storage.k8s.io",
            ("storageclasses",),
            ("get",),
            "the driver of a claim whose volume names none is its storage class's provisioner",
        ),
        Rule(
            "snapshot.storage.k8s.io",
            ("volumesnapshotclasses",),
            ("list",),
            "the VolumeSnapshotClasses, to find one of the volume's driver (else the backup "
            "copies the volume)",
        ),
    )


def grants(rules: tuple[Rule, ...]) -> set[tuple[str, str, str]]:
    """Every (verb, group, resource) the rules allow, to some object at least (a rule with
    resourceNames allows it only on the objects it names)."""
    found: set[tuple[str, str, str]] = set()
    for rule in rules:
        found |= rule.grants()
    return found
