"""Applying one object: server-side apply as field manager `runway`, strict field validation,
forced (runway owns what it renders), retried while the cluster is temporarily unwell.

Idempotent: applying the same manifest again changes nothing on the server (the same
resourceVersion), so resuming a deployment may apply everything again.

Forcing takes every field from whoever had it, so an app's object is first read and refused
when it belongs to something else: objects are named `<app>-<service>`, and app `blog` with
service `web-api` names the same object as app `blog-web` with service `api`. The read is the
shared watch's cache when one is open on the object's collection (as Argo CD reads its live
state from its cluster cache), otherwise a GET; either way the read and the write are apart: an
object made by another in between is not seen, and two apps creating the same name at the same
moment could both pass the read (the second then overwrites). With a GET that is a round trip;
with the cache, the watch's delay: milliseconds while its connection is sound, and up to the
watch's timeout and margin (about 90 s) when the connection died without a word. The cache is
trusted only while it has followed the cluster since its last list (runway.deploy.informers:
not after an error, an expired history or a time held back). Closing the window needs the
name clash refused where apps are created, which this module cannot see. A refusal is always
confirmed by a GET."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from runway.deploy.connection import Cluster
from runway.deploy.errors import PermanentError, TemporaryError

FIELD_MANAGER = "runway"
APPLY_PATCH = "application/apply-patch+yaml"
APP_LABEL = "runway.dev/app"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

T = TypeVar("T")

# (apiVersion, kind) -> (resource, namespaced): the kinds runway makes. A fixed table, not
# discovery: no extra round trip per object, and a kind runway does not know is refused.
RESOURCES: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ResourceQuota"): ("resourcequotas", True),
    ("v1", "LimitRange"): ("limitranges", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "Pod"): ("pods", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"): ("volumesnapshots", True),
    # runway's own installation (runway.install), applied by an admin, never by deployments:
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): (
        "validatingadmissionpolicies",
        False,
    ),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): (
        "validatingadmissionpolicybindings",
        False,
    ),
}


@dataclass(frozen=True, slots=True)
class Retry:
    """How often and how patiently a temporary failure is retried: `tries` attempts in all,
    waiting `first` seconds, then twice as long each time up to `longest` (or the server's
    Retry-After when that is longer), with a little jitter."""

    tries: int = 5
    first: float = 0.25
    longest: float = 8.0

    def delay(self, attempt: int, error: TemporaryError) -> float:
        backoff = min(self.longest, self.first * 2**attempt)
        jittered: float = backoff * random.uniform(0.8, 1.2)
        return max(jittered, min(error.delay, self.longest))


RETRY = Retry()


async def retrying(call: Callable[[], Awaitable[T]], retry: Retry = RETRY) -> T:
    """`call()`, again after each TemporaryError until `retry.tries` are spent (then the last
    error, whose message says it was retried); a PermanentError at once."""
    for attempt in range(retry.tries):
        try:
            return await call()
        except TemporaryError as error:
            if attempt + 1 >= retry.tries:
                error.message = f"{error.message} (still failing after {retry.tries} tries)"
                error.args = (error.message,)
                raise
            await asyncio.sleep(retry.delay(attempt, error))
    raise AssertionError("unreachable: retry.tries must be at least 1")


def object_path(manifest: dict[str, Any]) -> str:
    """The API path of the object a manifest describes; PermanentError when runway does not
    know its kind or it lacks a name (or, namespaced, a namespace)."""
    api_version, kind = str(manifest.get("apiVersion")), str(manifest.get("kind"))
    metadata = manifest.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    _, namespaced = _resource(api_version, kind)
    if not name:
        raise PermanentError(f"the {kind} has no metadata.name")
    if namespaced and not namespace:
        raise PermanentError(f"the {kind} {name} has no metadata.namespace")
    return f"{collection_path(api_version, kind, namespace)}/{name}"


def collection_path(api_version: str, kind: str, namespace: str | None) -> str:
    """The API path of the objects of one kind (in `namespace`, when the kind is namespaced);
    PermanentError when runway does not know the kind."""
    resource, namespaced = _resource(api_version, kind)
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if not namespaced:
        return f"{prefix}/{resource}"
    return f"{prefix}/namespaces/{namespace}/{resource}"


def _resource(api_version: str, kind: str) -> tuple[str, bool]:
    found = RESOURCES.get((api_version, kind))
    if found is None:
        raise PermanentError(f"runway does not apply objects of kind {kind} ({api_version})")
    return found


def owned_by(labels: Mapping[str, Any], app: str) -> bool:
    """Whether labels say an object is runway's and belongs to `app`."""
    return labels.get(MANAGED_BY_LABEL) == "runway" and labels.get(APP_LABEL) == app


def _owned(existing: dict[str, Any], app: str) -> bool:
    return owned_by((existing.get("metadata") or {}).get("labels") or {}, app)


def _refuse_foreign(manifest: dict[str, Any], existing: dict[str, Any], app: str) -> None:
    """PermanentError, in plain words, when the object already there is not `app`'s."""
    if _owned(existing, app):
        return
    labels = (existing.get("metadata") or {}).get("labels") or {}
    kind, name = manifest.get("kind"), manifest["metadata"]["name"]
    other = labels.get(APP_LABEL)
    if labels.get(MANAGED_BY_LABEL) == "runway" and other:
        raise PermanentError(
            f"the {kind} {name} already belongs to app '{other}' in this environment: app "
            f"'{app}' would overwrite it (an app's objects are named <app>-<service>, so two "
            "apps can name the same object); runway leaves it as it is. Rename the app or "
            "the service so that their names differ."
        )
    raise PermanentError(
        f"the {kind} {name} already exists and was not made by runway for app '{app}': "
        "runway does not overwrite it; rename the service, or delete that object first"
    )


async def apply(cluster: Cluster, manifest: dict[str, Any], retry: Retry = RETRY) -> dict[str, Any]:
    """Server-side apply one object; the object as the cluster has it afterwards.

    An object labelled with its app (`runway.dev/app`) is looked at first: in the shared
    watch of its collection when one is open (runway.deploy.informers: a readiness wait keeps
    the namespace's Deployments, ReplicaSets, Jobs and pods watched), otherwise read (one GET).
    When it exists and is not runway's object of that same app, PermanentError names it and
    its owner, and nothing is written. Temporary failures are retried (`retry`); PermanentError (an
    unknown field, an invalid or immutable value, quota, forbidden) is raised at once, naming
    the field or limit."""
    path = object_path(manifest)
    app = ((manifest.get("metadata") or {}).get("labels") or {}).get(APP_LABEL)
    if app:
        collection, name = path.rsplit("/", 1)
        watched, existing = cluster.informers.cached(collection, name)
        if not watched or (existing is not None and not _owned(existing, str(app))):
            # Not watched: read it. Another's in the watch's cache: read it again before
            # refusing, in case it has gone since.
            existing = await retrying(lambda: cluster.get(path), retry)
        if existing is not None:
            _refuse_foreign(manifest, existing, str(app))
    query = [("fieldManager", FIELD_MANAGER), ("fieldValidation", "Strict"), ("force", "true")]

    async def once() -> dict[str, Any]:
        return await cluster.request(
            "PATCH", path, query=query, body=manifest, content_type=APPLY_PATCH
        )

    return await retrying(once, retry)
