"""Writes of API objects with a real API server's rules: create, replace, patch, apply, status.

No HTTP here: handlers decode the request, call these, and encode what comes back. Every write
goes through the same steps a real server takes: decode, admission, defaults, managedFields,
validation, generation, no-op detection, storage.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from runway.simcluster.admission import (
    admit_create,
    admit_mutating,
    admit_resize,
    admit_service_account,
)
from runway.simcluster.allocator import Allocator
from runway.simcluster.apply import ApplyConflict, ApplyError, record_update, server_side_apply
from runway.simcluster.bodies import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    Decoded,
    decode_json,
    decode_yaml,
)
from runway.simcluster.catalogue import NAMESPACES, Catalogue, Generation, ResourceType
from runway.simcluster.clone import clone
from runway.simcluster.decoding import Decoder, object_body, place
from runway.simcluster.defaults import apply_defaults, initial_status, normalise_quantities
from runway.simcluster.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    FieldError,
    Invalid,
    Object,
    ServerError,
    UnsupportedMediaType,
    go_struct,
    required,
)
from runway.simcluster.patches import json_patch, merge_patch, strategic_merge_patch
from runway.simcluster.quantity import QuantityError
from runway.simcluster.quota import admit_quota
from runway.simcluster.schemas import SchemaRegistry
from runway.simcluster.shape import (
    generation_moves,
    go_json,
    job_selector,
    ordered,
    same,
)
from runway.simcluster.store import Store
from runway.simcluster.validation import validate, validate_status

_SYSTEM_META = (
    "name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "generation",
)  # fmt: skip
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class WriteOptions:
    """What the query string says about a write."""

    validation: str = "Warn"
    manager: str = ""  # fieldManager, or the User-Agent's product name
    manager_given: bool = False
    dry_run: bool = False
    force: bool = False
    trusted: bool = False
    """A body the simulator's own controllers made from objects it decoded already (a status,
    a ReplicaSet's pod): not decoded again (no unknown-field walk, no type check), which was
    half the CPU of such a write. Never set for a client's request."""


@dataclass
class Written:
    """The object a write leaves (or would leave, for a dry run) and what to tell the client."""

    obj: Object
    created: bool = False
    warnings: list[str] = field(default_factory=list)


class Objects:
    """The object API of one simulated cluster."""

    def __init__(
        self, store: Store, catalogue: Catalogue, registry: SchemaRegistry, clock: Callable[[], str]
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.registry = registry
        self.decoder = Decoder(registry)
        self.allocator = Allocator()
        self.now = clock
        self.removal_hooks: list[Callable[[ResourceType, Object], None]] = []

    # -- reads ---------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Object:
        obj = self.store.get(rt.key, namespace, name)
        if obj is None:
            raise rt.not_found(name)
        return obj

    # -- writes --------------------------------------------------------------------------------

    def create(
        self, rt: ResourceType, namespace: str, body: Decoded, opts: WriteOptions
    ) -> Written:
        obj = object_body(rt, body.value)
        warnings = self._decode(rt, obj, body, opts)
        place(rt, obj, namespace, None)
        return self._create(rt, obj, opts, warnings, applied=False)

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Decoded,
        subresource: str | None,
        opts: WriteOptions,
    ) -> Written:
        obj = object_body(rt, body.value)
        warnings = self._decode(rt, obj, body, opts)
        place(rt, obj, namespace, name)
        live = self.store.get(rt.key, namespace, name)
        if live is None:
            if rt.create_on_update and subresource is None:
                obj["metadata"].pop("resourceVersion", None)
                return self._create(rt, obj, opts, warnings, applied=False)
            raise rt.not_found(name)
        given = obj["metadata"].get("resourceVersion")
        if given and given != live["metadata"]["resourceVersion"]:
            raise rt.stale(name)
        return self._update(rt, live, obj, subresource, opts, warnings, applied=False)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        media: str,
        raw: bytes,
        subresource: str | None,
        opts: WriteOptions,
    ) -> Written:
        if media == APPLY_PATCH:
            return self.apply(rt, namespace, name, raw, subresource, opts)
        if media not in (MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH):
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                f"include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}, {STRATEGIC_PATCH}"
            )
        if opts.force:
            raise Invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                [FieldError("Forbidden", "force", "may not be specified for non-apply patch")],
            )
        live = self.get(rt, namespace, name)
        patch = decode_json(raw).value
        if media == JSON_PATCH:
            patched = json_patch(live, patch)
            shown = go_json(patched)
        elif not isinstance(patch, dict):
            raise BadRequest("json: cannot unmarshal non-object into Go value of type map[string]")
        elif media == MERGE_PATCH:
            patched = merge_patch(live, patch)
            shown = go_json(patched)
        else:
            patched = strategic_merge_patch(live, patch)
            shown = go_struct(patch)
        if not isinstance(patched, dict):
            raise BadRequest("the patched object is not a JSON object")
        obj = object_body(rt, clone(patched))
        warnings = self.decoder.patched(rt, obj, shown, opts.validation)
        place(rt, obj, namespace, name)
        given = obj["metadata"].get("resourceVersion")
        if given and given != live["metadata"]["resourceVersion"]:
            raise rt.stale(name)
        return self._update(rt, live, obj, subresource, opts, warnings, applied=False)

    def apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        subresource: str | None,
        opts: WriteOptions,
    ) -> Written:
        """Server-side apply: create when missing, otherwise merge by the schema's rules."""
        if not opts.manager_given:
            raise Invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                [required("fieldManager", "is required for apply patch")],
            )
        obj = object_body(rt, decode_yaml(raw))
        # The applied object keeps the namespace it was sent with (or none): apply errors name
        # it as sent, like a real server's `(/d1; apps/v1, Kind=Deployment)`.
        sent_namespace = obj["metadata"].get("namespace")
        place(rt, obj, namespace, name)
        if not sent_namespace:
            obj["metadata"].pop("namespace", None)
        try:
            normalise_quantities(rt.kind, obj)
        except QuantityError as error:
            raise self.decoder.undecodable(rt, str(error)) from None
        live = self.store.get(rt.key, namespace, name)
        given = obj["metadata"].pop("resourceVersion", None)
        if given and live is not None and given != live["metadata"]["resourceVersion"]:
            raise rt.stale(name)
        if live is None and subresource is not None:
            raise rt.not_found(name)
        try:
            result = server_side_apply(
                live,
                obj,
                manager=opts.manager,
                force=opts.force,
                registry=self.registry,
                now=self.now(),
                subresource=subresource,
            )
        except ApplyConflict as conflict:
            raise Conflict(conflict.message(), details={"causes": conflict.causes()}) from None
        except ApplyError as error:
            raise ServerError(error.message) from None
        if live is not None and result == live:
            return Written(live)
        place(rt, result, namespace, name)
        self.decoder.finish(rt, result, typecheck=False)
        if live is None:
            return self._create(rt, result, opts, [], applied=True)
        return self._update(rt, live, result, subresource, opts, [], applied=True)

    def _decode(
        self, rt: ResourceType, obj: Object, body: Decoded, opts: WriteOptions
    ) -> list[str]:
        if opts.trusted:
            self.decoder.finish(rt, obj, typecheck=False)
            return []
        return self.decoder.decode(rt, obj, body.duplicates, opts.validation)

    # -- the steps -----------------------------------------------------------------------------

    def _create(
        self,
        rt: ResourceType,
        obj: Object,
        opts: WriteOptions,
        warnings: list[str],
        *,
        applied: bool,
    ) -> Written:
        metadata = obj["metadata"]
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                raise Invalid(
                    rt.group,
                    rt.kind,
                    "",
                    [required("metadata.name", "name or generateName is required")],
                )
            suffix = "".join(random.choice(_NAME_CHARS) for _ in range(5))
            metadata["name"] = str(prefix)[:58] + suffix
        name = metadata["name"]
        admit_create(self.store, rt, metadata.get("namespace", ""), name)
        if metadata.get("resourceVersion"):
            raise BadRequest("resourceVersion should not be set on objects to be created")
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generation"):
            metadata.pop(key, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = self.now()
        if rt.kind == "Job":
            job_selector(obj)
        apply_defaults(rt.kind, obj)
        admit_mutating(self.store, rt, obj)
        if rt.status:
            status = initial_status(rt.kind, obj)
            obj.pop("status", None)
            if status is not None:
                obj["status"] = status
                apply_defaults(rt.kind, obj)
        if rt.kind == "Pod":
            admit_service_account(self.store, rt, obj)
        if not applied:
            obj = self._record(rt, None, obj, opts.manager, None)
        errors, more = validate(rt, obj, None)
        if not errors:
            admit_quota(self.store, rt, obj, None)
        existing = self.store.get(rt.key, metadata.get("namespace", ""), name)
        if not errors and existing is None and rt.kind == "Service":
            errors = self.allocator.reserve(obj["spec"])
        if errors:
            raise Invalid(rt.group, rt.kind, name, errors)
        if existing is not None:
            if existing["metadata"].get("deletionTimestamp"):
                error = rt.already_exists(name)
                raise AlreadyExists(
                    f"object is being deleted: {error.message}", details=error.details
                )
            raise rt.already_exists(name)
        if rt.generation is not Generation.NONE:
            obj["metadata"]["generation"] = 1
        if opts.dry_run:
            if rt.kind == "Service":
                self.allocator.release(obj)
            return Written(ordered(obj, stored=False), True, warnings + more)
        stored = self.store.put(rt.key, ordered(obj))
        if rt is NAMESPACES:
            self._service_account_controller(name)
        return Written(stored, True, warnings + more)

    def _update(
        self,
        rt: ResourceType,
        live: Object,
        new: Object,
        subresource: str | None,
        opts: WriteOptions,
        warnings: list[str],
        *,
        applied: bool,
    ) -> Written:
        metadata, old = new["metadata"], live["metadata"]
        for key in _SYSTEM_META:
            if key in old:
                metadata[key] = old[key]
            else:
                metadata.pop(key, None)
        # Copy on write: what the write keeps of the live object is shared with it, not copied
        # (stored objects are never changed, and the defaults below fill in nothing the live
        # object lacks), so comparing the two skips it at once.
        if subresource == "status":
            merged = {k: v for k, v in live.items() if k != "status"}
            merged["metadata"] = dict(old)
            if new.get("status") is not None:
                merged["status"] = new["status"]
            if applied:
                merged["metadata"]["managedFields"] = metadata.get("managedFields")
            new = merged
        elif rt.status:
            new.pop("status", None)
            if "status" in live:
                new["status"] = live["status"]
        if rt.kind == "Service":
            self.allocator.carry_over(new.setdefault("spec", {}), live.get("spec") or {})
        if rt.kind == "Namespace":
            new.setdefault("spec", {})["finalizers"] = (live.get("spec") or {}).get("finalizers")
        apply_defaults(rt.kind, new)
        if not applied:
            new = self._record(rt, live, new, opts.manager, subresource)
        name = metadata["name"]
        if subresource == "status":
            errors, more = validate_status(rt, new), list[str]()
        else:
            if rt.kind == "PersistentVolumeClaim":
                admit_resize(self.store, rt, live, new)
            errors, more = validate(rt, new, live)
        if errors:
            raise Invalid(rt.group, rt.kind, name, errors)
        if subresource is None:
            admit_quota(self.store, rt, new, live)
        if rt.generation is not Generation.NONE and generation_moves(rt, live, new):
            new["metadata"]["generation"] = int(old.get("generation", 1)) + 1
        if same(live, new):
            return Written(live, False, warnings + more)
        new = ordered(new, stored=not opts.dry_run)
        if opts.dry_run:
            new["metadata"]["resourceVersion"] = old["resourceVersion"]
            return Written(new, False, warnings + more)
        stored = self.store.put(rt.key, new)
        if stored["metadata"].get("deletionTimestamp") and not stored["metadata"].get("finalizers"):
            self.remove(rt, stored)
        return Written(stored, False, warnings + more)

    def remove(self, rt: ResourceType, obj: Object) -> Object:
        """Take an object out of storage (its deletion is complete) and tell the hooks."""
        meta = obj["metadata"]
        final = self.store.remove(rt.key, meta.get("namespace", ""), meta["name"])
        if rt.kind == "Service":
            self.allocator.release(final)
        for hook in self.removal_hooks:
            hook(rt, final)
        return final

    def _record(
        self, rt: ResourceType, old: Object | None, new: Object, manager: str, sub: str | None
    ) -> Object:
        if not self.decoder.knows(rt):
            return new
        return record_update(
            old, new, manager=manager, registry=self.registry, now=self.now(), subresource=sub
        )

    def _service_account_controller(self, namespace: str) -> None:
        """What a real cluster's controller does at once: a `default` ServiceAccount in each."""
        accounts = self.catalogue.by_key("/serviceaccounts")
        body = Decoded({"metadata": {"name": "default"}})
        self.create(accounts, namespace, body, WriteOptions(manager="kube-controller-manager"))
