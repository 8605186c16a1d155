"""Deleting: propagation policies, finalizers, terminating namespaces and a small garbage collector.

A real cluster needs its namespace and garbage-collector controllers for deletions to finish; the
simulator does their part of the work after a short delay, so a namespace goes `Terminating`, then
its content and itself disappear, and an orphaning delete comes back with `finalizers: ["orphan"]`
before the object goes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runway.simcluster.bodies import decode_json, query_bool, query_int
from runway.simcluster.catalogue import NAMESPACES, ResourceType
from runway.simcluster.clone import clone
from runway.simcluster.errors import BadRequest, FieldError, Forbidden, Invalid, Object
from runway.simcluster.objects import Objects
from runway.simcluster.shape import ordered

log = logging.getLogger("runway.simcluster")

POLICIES = ("Foreground", "Background", "Orphan")
IMMORTAL = ("default", "kube-system", "kube-public")
JOB_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
    "to remove them or set propagationPolicy=Orphan to suppress this warning"
)
_FINALIZER = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}


@dataclass
class DeleteOptions:
    """A DELETE's options, from the query string and the body (the body wins)."""

    policy: str | None = None
    orphan_dependents: bool | None = None
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False


@dataclass
class Deleted:
    """What a DELETE answers: the object (still there, or as it went) or a Status."""

    body: Object
    code: int = 200
    warnings: list[str] = field(default_factory=list)


def delete_options(params: Mapping[str, str], raw: bytes) -> DeleteOptions:
    """Parse and check DeleteOptions; an unknown policy is a 422 as on a real server."""
    body: Any = decode_json(raw).value if raw.strip() else {}
    if not isinstance(body, dict):
        raise BadRequest("couldn't get version/kind; json parse error: not a JSON object")
    preconditions = body.get("preconditions") or {}
    orphan = body.get("orphanDependents")
    if orphan is None and "orphanDependents" in params:
        orphan = query_bool(params, "orphanDependents")
    options = DeleteOptions(
        policy=body.get("propagationPolicy") or params.get("propagationPolicy") or None,
        orphan_dependents=orphan,
        uid=preconditions.get("uid"),
        resource_version=preconditions.get("resourceVersion"),
        dry_run=bool(body.get("dryRun")) or "dryRun" in params,
    )
    query_int(params, "gracePeriodSeconds")
    problems: list[FieldError] = []
    if options.policy is not None and options.policy not in POLICIES:
        supported = ", ".join(json.dumps(p) for p in (*POLICIES, "nil"))
        problems.append(
            FieldError(
                "NotSupported",
                "propagationPolicy",
                f"supported values: {supported}",
                json.dumps(options.policy),
            )
        )
    if options.policy is not None and options.orphan_dependents is not None:
        problems.append(
            FieldError(
                "Invalid",
                "propagationPolicy",
                "orphanDependents and deletionPropagation cannot be both set",
                json.dumps(options.policy),
            )
        )
    if problems:
        raise Invalid("meta.k8s.io", "DeleteOptions", "", problems)
    return options


class Lifecycle:
    """Deletions of one simulated cluster, and the controllers' part in finishing them."""

    def __init__(
        self, objects: Objects, *, namespace_delay: float = 0.5, gc_delay: float = 0.0
    ) -> None:
        self.objects = objects
        self.namespace_delay = namespace_delay
        self.gc_delay = gc_delay
        self._timers: set[asyncio.TimerHandle] = set()
        self._gone: dict[str, str] = {}  # uid -> namespace of owners removed, for the collector
        objects.removal_hooks.append(self._removed)

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def delete(self, rt: ResourceType, namespace: str, name: str, opts: DeleteOptions) -> Deleted:
        if rt is NAMESPACES:
            return self._delete_namespace(name, opts)
        live = self.objects.get(rt, namespace, name)
        self._preconditions(rt, live, opts)
        metadata = live["metadata"]
        if metadata.get("deletionTimestamp"):
            return Deleted(live)
        warnings: list[str] = []
        policy = opts.policy
        if policy is None and opts.orphan_dependents is not None:
            policy = "Orphan" if opts.orphan_dependents else "Background"
        if policy is None:
            policy = "Orphan" if rt.orphan_by_default else "Background"
            if rt.kind == "Job":
                warnings.append(JOB_WARNING)
        finalizers = [
            f for f in metadata.get("finalizers") or [] if f not in _FINALIZER.values()
        ] + ([_FINALIZER[policy]] if policy in _FINALIZER else [])
        if finalizers:
            new = clone(live)
            new["metadata"].update(
                deletionTimestamp=self.objects.now(),
                deletionGracePeriodSeconds=0,
                finalizers=finalizers,
            )
            new = ordered(new, stored=not opts.dry_run)
            stored = new if opts.dry_run else self.objects.store.put(rt.key, new)
            if not opts.dry_run and policy in _FINALIZER:
                uid = metadata["uid"]
                self._later(self.gc_delay, lambda: self._finalize(rt, namespace, name, uid, policy))
            code = 202 if opts.orphan_dependents is False else 200
            return Deleted(stored, code, warnings)
        final = live if opts.dry_run else self.objects.remove(rt, live)
        if rt.returns_deleted:
            return Deleted(final, 200, warnings)
        details = rt.details(name, uid=metadata["uid"])
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return Deleted({**status, "details": details}, 200, warnings)

    def _preconditions(self, rt: ResourceType, live: Object, opts: DeleteOptions) -> None:
        metadata, name = live["metadata"], live["metadata"]["name"]
        if opts.uid is not None and opts.uid != metadata["uid"]:
            raise rt.conflict(
                name,
                f"Precondition failed: UID in precondition: {opts.uid}, UID in object meta: "
                f"{metadata['uid']}",
            )
        if (
            opts.resource_version is not None
            and opts.resource_version != metadata["resourceVersion"]
        ):
            raise rt.conflict(
                name,
                "Precondition failed: ResourceVersion in precondition: "
                f"{opts.resource_version}, ResourceVersion in object meta: "
                f"{metadata['resourceVersion']}",
            )

    def _delete_namespace(self, name: str, opts: DeleteOptions) -> Deleted:
        if name in IMMORTAL:
            raise Forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                details=NAMESPACES.details(name),
            )
        live = self.objects.get(NAMESPACES, "", name)
        self._preconditions(NAMESPACES, live, opts)
        if live["metadata"].get("deletionTimestamp"):
            raise NAMESPACES.conflict(
                name,
                "The system is ensuring all content is removed from this namespace.  Upon "
                "completion, this namespace will automatically be purged by the system.",
            )
        new = clone(live)
        new["metadata"].update(deletionTimestamp=self.objects.now(), deletionGracePeriodSeconds=0)
        new.setdefault("status", {})["phase"] = "Terminating"
        new = ordered(new, stored=not opts.dry_run)
        if opts.dry_run:
            return Deleted(new)
        stored = self.objects.store.put(NAMESPACES.key, new)
        log.info("runway-sim (simulated): namespace %s is terminating", name)
        self._later(self.namespace_delay, lambda: self._finalize_namespace(name))
        return Deleted(stored)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Callable[[Object], bool],
        opts: DeleteOptions,
    ) -> Object:
        """DELETE on a collection: every matching object, answered with the list of them."""
        items = []
        for obj in self.objects.store.items(rt.key, namespace):
            if matches(obj):
                meta = obj["metadata"]
                deleted = self.delete(rt, meta.get("namespace", ""), meta["name"], opts)
                items.append(deleted.body if deleted.body.get("kind") == rt.kind else obj)
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(self.objects.store.rv)},
            "items": items,
        }

    # -- the controllers' part -----------------------------------------------------------------

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._timers.discard(handle)
            try:
                action()
            except Exception:  # a controller's failure must not take the server down
                log.exception("runway-sim (simulated): background deletion failed")

        handle = loop.call_later(delay, run)
        self._timers.add(handle)

    def _finalize_namespace(self, name: str) -> None:
        """The namespace controller: delete the content, then the namespace once it is empty."""
        namespace = self.objects.store.get(NAMESPACES.key, "", name)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for rt in self.objects.catalogue:
            if not rt.namespaced:
                continue
            for obj in self.objects.store.items(rt.key, name):
                if not obj["metadata"].get("deletionTimestamp"):
                    self.delete(rt, name, obj["metadata"]["name"], DeleteOptions("Background"))
                if self.objects.store.get(rt.key, name, obj["metadata"]["name"]) is not None:
                    remaining += 1
        if remaining:
            self._later(self.namespace_delay, lambda: self._finalize_namespace(name))
            return
        final = clone(namespace)
        final.setdefault("spec", {})["finalizers"] = []
        stored = self.objects.store.put(NAMESPACES.key, final)
        self.objects.remove(NAMESPACES, stored)
        log.info("runway-sim (simulated): namespace %s deleted", name)

    def _finalize(self, rt: ResourceType, namespace: str, name: str, uid: str, policy: str) -> None:
        """The garbage collector on an orphaning or foreground deletion."""
        owner = self.objects.store.get(rt.key, namespace, name)
        if owner is None or owner["metadata"]["uid"] != uid:
            return
        for dependent_rt, dependent in self._dependents(uid, namespace if rt.namespaced else None):
            meta = dependent["metadata"]
            if policy == "Orphan":
                orphaned = clone(dependent)
                orphaned["metadata"]["ownerReferences"] = [
                    r for r in meta["ownerReferences"] if r.get("uid") != uid
                ] or None
                if orphaned["metadata"]["ownerReferences"] is None:
                    del orphaned["metadata"]["ownerReferences"]
                self.objects.store.put(dependent_rt.key, orphaned)
            elif not meta.get("deletionTimestamp"):
                self.delete(
                    dependent_rt,
                    meta.get("namespace", ""),
                    meta["name"],
                    DeleteOptions("Background"),
                )
        done = clone(owner)
        done["metadata"]["finalizers"] = [
            f for f in owner["metadata"].get("finalizers") or [] if f != _FINALIZER[policy]
        ]
        if not done["metadata"]["finalizers"]:
            del done["metadata"]["finalizers"]
        stored = self.objects.store.put(rt.key, done)
        if not stored["metadata"].get("finalizers"):
            self.objects.remove(rt, stored)

    def _removed(self, rt: ResourceType, final: Object) -> None:
        """Background deletion: once an owner is gone, collect its dependents."""
        if not self._gone:
            self._later(self.gc_delay, self._collect)
        self._gone[final["metadata"]["uid"]] = final["metadata"].get("namespace", "")

    def _collect(self) -> None:
        gone, self._gone = self._gone, {}
        for dependent_rt, dependent in self._dependents_of(set(gone)):
            meta = dependent["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            remaining = [r for r in meta["ownerReferences"] if r.get("uid") not in gone]
            if remaining:
                kept = clone(dependent)
                kept["metadata"]["ownerReferences"] = remaining
                self.objects.store.put(dependent_rt.key, kept)
            else:
                self.delete(
                    dependent_rt,
                    meta.get("namespace", ""),
                    meta["name"],
                    DeleteOptions("Background"),
                )

    def _dependents(self, uid: str, namespace: str | None) -> list[tuple[ResourceType, Object]]:
        return [
            (rt, obj)
            for rt, obj in self._dependents_of({uid})
            if namespace is None or obj["metadata"].get("namespace", "") == namespace
        ]

    def _dependents_of(self, uids: set[str]) -> list[tuple[ResourceType, Object]]:
        found = []
        for rt in self.objects.catalogue:
            for obj in self.objects.store.items(rt.key):
                references = obj["metadata"].get("ownerReferences")
                if references and any(r.get("uid") in uids for r in references):
                    found.append((rt, obj))
        return found
