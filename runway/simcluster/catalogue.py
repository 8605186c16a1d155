"""The kinds the simulated cluster serves: names, scope, verbs, and per-kind rules for handlers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from runway.simcluster.errors import AlreadyExists, Conflict, NotFound, Object, quote

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


class NameRule(StrEnum):
    """How a kind's names are validated."""

    LABEL = "label"  # RFC 1123 label: namespaces, services
    SUBDOMAIN = "subdomain"  # RFC 1123 subdomain: most kinds
    PATH_SEGMENT = "path"  # anything but '/', '%', '.' and '..': RBAC kinds


class Generation(StrEnum):
    """When `metadata.generation` exists and what moves it."""

    NONE = "none"  # the kind has no generation (ConfigMap, Service, ...)
    SPEC = "spec"  # moves when spec changes
    CONTENT = "content"  # custom resources: anything outside metadata and status


@dataclass(frozen=True)
class ResourceType:
    """One served resource, and how the generic handlers treat it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False  # has a status subresource
    generation: Generation = Generation.NONE
    names: NameRule = NameRule.SUBDOMAIN
    create_on_update: bool = False  # PUT to a missing name creates it
    orphan_by_default: bool = False  # DELETE without a policy orphans dependents (batch/v1 Job)
    returns_deleted: bool = False  # DELETE answers with the object instead of a Status
    custom: bool = False  # a CustomResourceDefinition's kind (list items keep kind/apiVersion)
    verbs: tuple[str, ...] = VERBS
    extra_subresources: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> str:
        """The store's name for this resource: `apps/deployments`, `/configmaps`."""
        return f"{self.group}/{self.plural}"

    @property
    def qualified(self) -> str:
        """How errors name the resource: `deployments.apps`, `configmaps`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_version_hash(self) -> str:
        """As a real server computes it: base64 of sha256("group/version/kind")'s first 8 bytes."""
        digest = hashlib.sha256(f"{self.group}/{self.version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()

    def details(self, name: str, **extra: object) -> Object:
        """A Status's `details` for this resource (`kind` is the plural, as a real server sends)."""
        details: Object = {"name": name}
        if self.group:
            details["group"] = self.group
        details["kind"] = self.plural
        details.update(extra)
        return details

    def not_found(self, name: str) -> NotFound:
        return NotFound(f"{self.qualified} {quote(name)} not found", details=self.details(name))

    def already_exists(self, name: str) -> AlreadyExists:
        return AlreadyExists(
            f"{self.qualified} {quote(name)} already exists", details=self.details(name)
        )

    def conflict(self, name: str, why: str) -> Conflict:
        return Conflict(
            f"Operation cannot be fulfilled on {self.qualified} {quote(name)}: {why}",
            details=self.details(name),
        )

    def stale(self, name: str) -> Conflict:
        return self.conflict(
            name,
            "the object has been modified; please apply your changes to the latest version and "
            "try again",
        )


_STATUS_VERBS = ("get", "patch", "update")
_SPEC, _CONTENT = Generation.SPEC, Generation.CONTENT
_ALL = ("all",)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "Namespace",
        "namespaces",
        namespaced=False,
        short_names=("ns",),
        status=True,
        names=NameRule.LABEL,
        returns_deleted=True,
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    ResourceType("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    ResourceType("", "v1", "Secret", "secrets"),
    ResourceType(
        "",
        "v1",
        "Service",
        "services",
        short_names=("svc",),
        categories=_ALL,
        status=True,
        names=NameRule.LABEL,
        create_on_update=True,
        returns_deleted=True,
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    ),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        short_names=("po",),
        categories=_ALL,
        status=True,
        generation=_SPEC,
        returns_deleted=True,
        extra_subresources=(("log", ("get",)),),
    ),
    ResourceType(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short_names=("pvc",),
        status=True,
    ),
    ResourceType(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        namespaced=False,
        short_names=("pv",),
        status=True,
    ),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", short_names=("quota",), status=True),
    ResourceType(
        "", "v1", "LimitRange", "limitranges", short_names=("limits",), create_on_update=True
    ),
    ResourceType("", "v1", "Event", "events", short_names=("ev",), create_on_update=True),
    ResourceType(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        categories=_ALL,
        status=True,
        generation=_SPEC,
    ),
    ResourceType(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        short_names=("rs",),
        categories=_ALL,
        status=True,
        generation=_SPEC,
    ),
    ResourceType(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short_names=("sts",),
        categories=_ALL,
        status=True,
        generation=_SPEC,
    ),
    ResourceType(
        "batch",
        "v1",
        "Job",
        "jobs",
        categories=_ALL,
        status=True,
        generation=_SPEC,
        orphan_by_default=True,
    ),
    ResourceType(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        namespaced=False,
        short_names=("sc",),
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        short_names=("ing",),
        status=True,
        generation=_SPEC,
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        namespaced=False,
        generation=_SPEC,
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        short_names=("netpol",),
        generation=_SPEC,
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        names=NameRule.PATH_SEGMENT,
        create_on_update=True,
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        names=NameRule.PATH_SEGMENT,
        create_on_update=True,
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        namespaced=False,
        names=NameRule.PATH_SEGMENT,
        create_on_update=True,
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        namespaced=False,
        names=NameRule.PATH_SEGMENT,
        create_on_update=True,
    ),
    # Known, so that installing runway (its admission policy) validates strictly; the
    # simulated cluster does not evaluate their CEL.
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        namespaced=False,
        status=True,
        generation=_SPEC,
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        namespaced=False,
        generation=_SPEC,
    ),
    ResourceType(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short_names=("pdb",),
        status=True,
        generation=_SPEC,
    ),
    ResourceType(
        "snapshot.storage.k8s.io",
        "v1",
        "VolumeSnapshot",
        "volumesnapshots",
        short_names=("vs",),
        status=True,
        generation=_CONTENT,
        custom=True,
    ),
    ResourceType(
        "snapshot.storage.k8s.io",
        "v1",
        "VolumeSnapshotClass",
        "volumesnapshotclasses",
        namespaced=False,
        short_names=("vsclass", "vsclasses"),
        generation=_CONTENT,
        custom=True,
    ),
    ResourceType(
        "snapshot.storage.k8s.io",
        "v1",
        "VolumeSnapshotContent",
        "volumesnapshotcontents",
        namespaced=False,
        short_names=("vsc", "vscs"),
        status=True,
        generation=_CONTENT,
        custom=True,
    ),
)


class Catalogue:
    """Lookups over the served resources, by URL parts or by apiVersion and kind."""

    def __init__(self, resources: tuple[ResourceType, ...] = RESOURCES) -> None:
        self.resources = resources
        self._by_path = {(r.group, r.version, r.plural): r for r in resources}
        self._by_kind = {(r.api_version, r.kind): r for r in resources}
        self._by_key = {r.key: r for r in resources}

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self.resources)

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def by_key(self, key: str) -> ResourceType:
        return self._by_key[key]

    def groups(self) -> list[tuple[str, list[str]]]:
        """Each named group with its versions, in the order first served (not the core group)."""
        seen: dict[str, list[str]] = {}
        for r in self.resources:
            if r.group and r.version not in seen.setdefault(r.group, []):
                seen[r.group].append(r.version)
        return list(seen.items())

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.resources if r.group == group and r.version == version]


NAMESPACES = RESOURCES[0]
