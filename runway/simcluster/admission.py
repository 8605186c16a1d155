"""Admission: what a real server checks and changes around validation (namespace lifecycle,
service accounts, volume resizing, LimitRange defaults, the default StorageClass, the
pvc-protection finalizer), each refusal worded as kube-apiserver's admission plugins word it.
ResourceQuota's admission, with the usage it keeps, is runway.simcluster.quota."""

from __future__ import annotations

from runway.simcluster.catalogue import NAMESPACES, ResourceType
from runway.simcluster.errors import Forbidden, Object, quote
from runway.simcluster.quantity import value_of
from runway.simcluster.store import Store


def admit_create(store: Store, rt: ResourceType, namespace: str, name: str) -> None:
    """The namespace lifecycle admission: no content in a missing or terminating namespace."""
    if not rt.namespaced:
        return
    ns = store.get(NAMESPACES.key, "", namespace)
    if ns is None:
        raise NAMESPACES.not_found(namespace)
    if ns["metadata"].get("deletionTimestamp"):
        raise Forbidden(
            f"{rt.qualified} {quote(name)} is forbidden: unable to create new content in "
            f"namespace {namespace} because it is being terminated",
            details=rt.details(
                name,
                causes=[
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            ),
        )


def admit_service_account(store: Store, rt: ResourceType, pod: Object) -> None:
    """Pods run as a ServiceAccount that must exist (the ServiceAccount admission plugin)."""
    metadata = pod["metadata"]
    namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
    account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    if store.get("/serviceaccounts", namespace, account) is None:
        raise Forbidden(
            f"{rt.qualified} {quote(name)} is forbidden: error looking up service account "
            f'{namespace}/{account}: serviceaccount "{account}" not found',
            details=rt.details(name),
        )


def admit_resize(store: Store, rt: ResourceType, live: Object, new: Object) -> None:
    """Growing a bound claim needs a StorageClass that allows expansion (403 otherwise)."""
    if (live.get("status") or {}).get("phase") != "Bound":
        return
    before = _storage(live)
    after = _storage(new)
    if before is None or after is None or value_of(after) <= value_of(before):
        return
    class_name = (new.get("spec") or {}).get("storageClassName")
    storage_class = store.get("storage.k8s.io/storageclasses", "", class_name or "")
    if not class_name or not (storage_class or {}).get("allowVolumeExpansion"):
        name = new["metadata"]["name"]
        raise Forbidden(
            f"{rt.qualified} {quote(name)} is forbidden: only dynamically provisioned "
            "pvc can be resized and the storageclass that provisions the pvc must support "
            "resize",
            details=rt.details(name),
        )


def _storage(obj: Object) -> str | None:
    value = (((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    return None if value is None else str(value)


# -- mutating admission: LimitRanger, DefaultStorageClass, StorageObjectInUseProtection ----------

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def admit_mutating(store: Store, rt: ResourceType, obj: Object) -> None:
    """What mutating admission plugins change on a new object (after defaulting)."""
    if rt.kind == "Pod":
        admit_limits(store, obj)
    elif rt.kind == "PersistentVolumeClaim":
        admit_claim(store, obj)


def admit_limits(store: Store, pod: Object) -> None:
    """LimitRanger: containers get the namespace's LimitRange `default` limits and
    `defaultRequest` requests for every resource they do not set, and the pod says so in its
    `kubernetes.io/limit-ranger` annotation."""
    namespace = pod["metadata"].get("namespace", "")
    spec = pod.get("spec") or {}
    notes: list[str] = []
    for limit_range in store.items("/limitranges", namespace):
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if not isinstance(item, dict) or item.get("type") != "Container":
                continue
            for group, label in (("initContainers", "init container"), ("containers", "container")):
                for container in spec.get(group) or []:
                    if isinstance(container, dict):
                        notes += _container_defaults(container, item, label)
    if notes:
        annotations = pod["metadata"].setdefault("annotations", {})
        annotations[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


def _container_defaults(container: Object, item: Object, label: str) -> list[str]:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        resources = container["resources"] = {}
    notes: list[str] = []
    for field, default, word in (
        ("requests", item.get("defaultRequest") or {}, "request"),
        ("limits", item.get("default") or {}, "limit"),
    ):
        given = resources.get(field)
        if not isinstance(given, dict):
            given = {}
        added = sorted(name for name in default if name not in given)
        if added:
            resources[field] = {**given, **{name: default[name] for name in added}}
            notes.append(f"{', '.join(added)} {word} for {label} {container.get('name', '')}")
    return notes


def admit_claim(store: Store, claim: Object) -> None:
    """DefaultStorageClass (a claim without `storageClassName` gets the default class) and the
    `kubernetes.io/pvc-protection` finalizer every claim is created with."""
    spec = claim.setdefault("spec", {})
    if spec.get("storageClassName") is None:
        default = default_storage_class(store)
        if default is not None:
            spec["storageClassName"] = default
    finalizers = claim["metadata"].setdefault("finalizers", [])
    if PVC_PROTECTION not in finalizers:
        finalizers.append(PVC_PROTECTION)


def default_storage_class(store: Store) -> str | None:
    """The default StorageClass's name (the newest of several, as a real cluster picks)."""
    defaults = [
        sc
        for sc in store.items("storage.k8s.io/storageclasses")
        if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
    ]
    if not defaults:
        return None
    newest = max(defaults, key=lambda sc: str(sc["metadata"].get("creationTimestamp", "")))
    return str(newest["metadata"]["name"])
