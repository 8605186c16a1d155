"""Admission: what a real server checks before validation (namespace lifecycle, service
accounts, volume resizing), each refusal worded as kube-apiserver's admission plugins word it."""

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
