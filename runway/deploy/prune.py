"""Pruning (DESIGN.md, Kubernetes: Pruning): after a deployment succeeded, the objects of the same
app that it no longer has are removed from the app's namespace.

What is pruned is found by label, never by name: runway's objects carry `runway.dev/app=<app>`
and `app.kubernetes.io/managed-by=runway`, and names are no guide (app `blog` and app `blog-web`
both name objects `blog-web-...`). Each object found is checked again before it is deleted; an
object of another app, or one runway did not make, is never touched.

Three kinds are special:

- Jobs are deleted with `propagationPolicy=Background`, so their pods go with them (without it a
  real API server orphans the pods). A Job is `<app>-<job>-<deployment>`: older ones are simply
  objects the deployment no longer has.
- Secrets hold answers that restore points may still need (an older deployment is restored with
  its own values). Secrets and restore points are pruned together, never one without the other:
  the caller says which Secrets are still held (`keep_secrets`) and they stay.
- PersistentVolumeClaims hold data: one is deleted only when the person confirmed it by typing
  (`delete_volumes`); the others are reported as orphaned volumes and stay.

Deleting an object that is already gone is fine, an object already being deleted is left to
finish, and temporary errors are retried: pruning again after a crash, or twice, is harmless.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runway.deploy.apply import (
    APP_LABEL,
    MANAGED_BY_LABEL,
    RETRY,
    Retry,
    collection_path,
    owned_by,
    retrying,
)
from runway.deploy.connection import Cluster
from runway.deploy.errors import NotFound, PermanentError, TemporaryError
from runway.deploy.render_target import SecretRef

PRUNED: tuple[tuple[str, str], ...] = (
    ("networking.k8s.io/v1", "Ingress"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "PersistentVolumeClaim"),
)
"""Every kind runway renders for an app, in the order they are pruned: what routes traffic to
pods first, then the workloads, then what they read; volumes last."""

SECRET = "Secret"
VOLUME = "PersistentVolumeClaim"


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """One object of an app's namespace, by kind and name."""

    kind: str
    name: str

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ObjectRef:
        """The object a manifest (as rendered, or as read from the cluster) describes."""
        return cls(str(manifest.get("kind")), str((manifest.get("metadata") or {}).get("name")))

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Pruned:
    """What pruning did: the objects it deleted, and the PersistentVolumeClaims that the
    deployment no longer has but were kept, as no deletion was confirmed (orphaned volumes)."""

    deleted: tuple[ObjectRef, ...] = ()
    orphaned_volumes: tuple[str, ...] = ()


def refs(
    manifests: Iterable[Mapping[str, Any]], answers: Iterable[SecretRef] = ()
) -> frozenset[ObjectRef]:
    """The objects a deployment has: its manifests (every step's rendering), every Secret
    their pods read, and the Secrets of its secret answers (`Target.secrets`: referred to, not
    rendered; the next deployment uses them again). Pruning then never takes a Secret from a
    running pod, nor an answer from the deployment that comes next."""
    found = {ObjectRef(SECRET, answer.name) for answer in answers}
    for manifest in manifests:
        found.add(ObjectRef.of(manifest))
        template = (manifest.get("spec") or {}).get("template") or {}
        found.update(ObjectRef(SECRET, name) for name in _secrets_read(template.get("spec") or {}))
    return frozenset(found)


def _secrets_read(pod: Mapping[str, Any]) -> set[str]:
    """The Secrets a pod spec reads: env, envFrom, image pull Secrets, volumes."""
    named: list[Any] = [ref.get("name") for ref in pod.get("imagePullSecrets") or ()]
    named += [(v.get("secret") or {}).get("secretName") for v in pod.get("volumes") or ()]
    for container in [*(pod.get("containers") or ()), *(pod.get("initContainers") or ())]:
        for variable in container.get("env") or ():
            named.append(((variable.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name"))
        named += [(s.get("secretRef") or {}).get("name") for s in container.get("envFrom") or ()]
    return {name for name in named if isinstance(name, str) and name}


def selector(app: str) -> str:
    """The label selector of an app's objects."""
    return f"{APP_LABEL}={app},{MANAGED_BY_LABEL}=runway"


async def prune(
    cluster: Cluster,
    namespace: str,
    app: str,
    has: Collection[ObjectRef],
    *,
    keep_secrets: Collection[str],
    delete_volumes: Collection[str] = (),
    retry: Retry = RETRY,
) -> Pruned:
    """Delete the objects of `app` in `namespace` that the deployment, which `has` these objects
    (`refs(manifests)`), no longer has, except the Secrets named in `keep_secrets` (held by
    restore points, or by a deployment yet to run) and the PVCs not named in `delete_volumes`
    (reported as orphaned instead).

    Temporary errors are retried (`retry`); a PermanentError (forbidden, say) stops pruning
    with what was deleted so far left deleted: pruning again resumes it."""
    keep = set(has)
    deleted: list[ObjectRef] = []
    orphaned: list[str] = []
    for api_version, kind in PRUNED:
        path = collection_path(api_version, kind, namespace)
        for found in await _list(cluster, path, app, retry):
            ref = ObjectRef(kind, str(found["metadata"]["name"]))
            if ref in keep or (kind == SECRET and ref.name in keep_secrets):
                continue
            if found["metadata"].get("deletionTimestamp"):
                continue  # already on its way out (a claim still mounted, say)
            if kind == VOLUME and ref.name not in delete_volumes:
                orphaned.append(ref.name)
                continue
            if await _delete(cluster, f"{path}/{ref.name}", ref, found, retry):
                deleted.append(ref)
    return Pruned(tuple(deleted), tuple(orphaned))


async def _list(cluster: Cluster, path: str, app: str, retry: Retry) -> list[dict[str, Any]]:
    """The app's objects under `path`, each checked again here (the selector is the server's
    word; runway touches nothing whose labels it has not read itself)."""
    query = [("labelSelector", selector(app))]
    answer = await retrying(lambda: cluster.request("GET", path, query=query), retry)
    items = answer.get("items") or []
    return [
        item
        for item in items
        if isinstance(item, dict)
        and owned_by((item.get("metadata") or {}).get("labels") or {}, app)
        and (item.get("metadata") or {}).get("name")
    ]


async def _delete(
    cluster: Cluster, path: str, ref: ObjectRef, found: dict[str, Any], retry: Retry
) -> bool:
    """Delete one object, in the background (its dependents, a Job's pods, go after it); only
    the object that was listed (its uid), not one made again under its name since. True when
    this DELETE removed it; False when it was already gone or has been replaced."""
    options = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Background",
        "preconditions": {"uid": found["metadata"]["uid"]},
    }

    async def once() -> bool:
        try:
            await cluster.request("DELETE", path, body=options)
        except NotFound:
            return False
        except TemporaryError as error:
            if "Precondition failed" in error.message:
                return False  # made again since it was listed: not the object pruning meant
            raise
        return True

    try:
        return await retrying(once, retry)
    except PermanentError as error:
        raise PermanentError(f"cannot prune the {ref}: {error}") from None
