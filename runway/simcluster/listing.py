"""Lists: selectors, `limit`/`continue` pages consistent at one resourceVersion, their errors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runway.simcluster.bodies import query_int
from runway.simcluster.catalogue import ResourceType
from runway.simcluster.errors import BadRequest, Expired, Object, Timeout
from runway.simcluster.selectors import field_matcher, label_hint, label_matcher, name_hint
from runway.simcluster.store import Store, TooOld

Matcher = Callable[[Object], bool]

_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list."
)


@dataclass(frozen=True)
class Selection:
    """The label and field selectors of a list, watch or delete-collection."""

    labels: Matcher | None = None
    fields: Matcher | None = None
    label: tuple[str, str] | None = None
    """A label every match has (`selectors.label_hint`): only objects so labelled are tried."""
    name: str | None = None
    """The name every match has (`metadata.name=x`): only the object of that name is tried."""

    @property
    def everything(self) -> bool:
        return self.labels is None and self.fields is None

    def __call__(self, obj: Object) -> bool:
        return (self.labels is None or self.labels(obj)) and (
            self.fields is None or self.fields(obj)
        )


def selection(rt: ResourceType, params: Mapping[str, str]) -> Selection:
    labels = params.get("labelSelector")
    fields = params.get("fieldSelector")
    return Selection(
        label_matcher(labels) if labels else None,
        field_matcher(rt.kind, fields) if fields else None,
        label_hint(labels) if labels else None,
        name_hint(fields) if fields else None,
    )


def list_objects(
    store: Store, rt: ResourceType, namespace: str | None, params: Mapping[str, str]
) -> Object:
    """The `<Kind>List` a GET on a collection answers."""
    select = selection(rt, params)
    limit = query_int(params, "limit") or 0
    token = params.get("continue")
    requested = params.get("resourceVersion") or ""
    start: tuple[str, str] | None = None
    if token:
        rv, start = _decode_continue(token)
        try:
            objects = store.snapshot(rt.key, rv, namespace)
        except TooOld:
            error = Expired(_CONTINUE_EXPIRED)
            error.metadata = {"continue": _encode_continue(store.rv, start)}
            raise error from None
    elif requested and params.get("resourceVersionMatch") == "Exact":
        rv = _version(requested)
        try:
            objects = store.snapshot(rt.key, rv, namespace)
        except TooOld:
            raise Expired("The resourceVersion for the provided list is too old.") from None
    else:
        if requested and requested != "0" and _version(requested) > store.rv:
            raise Timeout(
                f"Too large resource version: {requested}, current: {store.rv}",
                details={
                    "causes": [
                        {
                            "reason": "ResourceVersionTooLarge",
                            "message": "Too large resource version",
                        }
                    ],
                    "retryAfterSeconds": 1,
                },
            )
        # Only the objects the selector can match (a pod's label, a name): a list of one
        # Deployment's pods need not go through every pod of the namespace.
        rv, objects = store.rv, store.candidates(rt.key, namespace, select.label, select.name)
    items: list[Object] = []
    remaining_from = len(objects)
    for index, obj in enumerate(objects):
        meta = obj["metadata"]
        if start is not None and (meta.get("namespace", ""), meta["name"]) <= start:
            continue
        if not select(obj):
            continue
        if limit and len(items) == limit:
            remaining_from = index
            break
        items.append(obj)
    metadata: Object = {"resourceVersion": str(rv)}
    if remaining_from < len(objects):
        last = items[-1]["metadata"]
        metadata["continue"] = _encode_continue(rv, (last.get("namespace", ""), last["name"]))
        if select.everything:
            metadata["remainingItemCount"] = len(objects) - remaining_from
    return {
        "kind": f"{rt.kind}List",
        "apiVersion": rt.api_version,
        "metadata": metadata,
        "items": items if rt.custom else [_as_item(obj) for obj in items],
    }


def _as_item(obj: Object) -> Object:
    """Items of a built-in kind's list carry no kind or apiVersion, as a real server sends them."""
    return {k: v for k, v in obj.items() if k != "kind" and k != "apiVersion"}


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"invalid resource version: {text}") from None
    if value < 0:
        raise BadRequest(f"invalid resource version: {text}")
    return value


def _encode_continue(rv: int, start: tuple[str, str]) -> str:
    key = f"{start[0]}/{start[1]}" if start[0] else start[1]
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": key + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        rv, key = int(data["rv"]), str(data["start"]).rstrip("\x00")
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise BadRequest(
            "continue key is not valid: incorrect encoded start resourceVersion (version "
            "meta.k8s.io/v1)"
        ) from None
    namespace, _, name = key.rpartition("/")
    return rv, (namespace, name)
