"""The Kubernetes schemas the simulated cluster validates and applies with.

Kubernetes v1.36's types come from the strict JSON schemas `kubernetes-validate` ships (they keep
`x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`);
`snapshot.storage.k8s.io/v1`, a CRD, from `schemadata/`. A schema becomes a tree of `Node`s, built
lazily, that says what structured-merge-diff needs to know: scalar, struct, map, list (atomic, set
or keyed) or untyped, and whether a struct or map is atomic.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import pathlib
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any, Literal

Kind = Literal["scalar", "struct", "map", "list", "any"]
ScalarType = Literal["string", "numeric", "boolean", "untyped"]
ListType = Literal["atomic", "set", "map"]

_KUBERNETES = "kubernetes-json-schema/v1.36.0-local-strict/_definitions.json"
_EXTRA = ("snapshot-storage-v1.json",)
_REF_PREFIX = "#/$defs/"

# Key fields of keyed lists that may be left out, with the default the real OpenAPI document
# declares for them (kubernetes-validate drops `default`): a port without `protocol` is keyed
# `{"containerPort":80,"protocol":"TCP"}`, as kube-apiserver keys it.
_KEY_DEFAULTS: dict[tuple[str, str], Any] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.EndpointPort", "protocol"): "TCP",
    ("io.k8s.api.discovery.v1.EndpointPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.LocalObjectReference", "name"): "",
}


class UnknownKind(LookupError):
    """Raised when asked about an apiVersion and kind no loaded schema declares."""


class Node:
    """One type in a schema, as structured-merge-diff sees it; children are resolved on demand."""

    def __init__(
        self,
        registry: SchemaRegistry,
        schema: Mapping[str, Any],
        name: str = "",
        relationship: str | None = None,
    ) -> None:
        self._registry = registry
        self._schema = schema
        self.name = name  # the definition's name, when the node is a whole definition
        self.kind: Kind
        self.scalar: ScalarType = "untyped"
        self.list_type: ListType = "atomic"
        self.keys: tuple[str, ...] = ()
        self.required = frozenset(schema.get("required", ()))
        types = schema.get("type", ())
        types = {types} if isinstance(types, str) else set(types)
        if ("oneOf" in schema and not types) or schema.get("x-kubernetes-int-or-string"):
            self.kind = "scalar"  # Quantity, IntOrString
        elif schema.get("x-kubernetes-preserve-unknown-fields"):
            self.kind = "any"
        elif "object" in types:
            if "properties" in schema:
                self.kind = "struct"
            elif isinstance(schema.get("additionalProperties"), Mapping):
                self.kind = "map"
            else:
                self.kind = "any"  # RawExtension, FieldsV1: deduced from the value
        elif "array" in types:
            self.kind = "list"
            self.list_type, self.keys = _list_shape(schema)
        elif types & {"string", "integer", "number", "boolean"}:
            self.kind = "scalar"
            self.scalar = _scalar_type(types)
        else:
            self.kind = "any"
        relationship = relationship or schema.get("x-kubernetes-map-type")
        self.atomic = (self.kind == "list" and self.list_type == "atomic") or (
            self.kind in ("struct", "map") and relationship == "atomic"
        )

    def __repr__(self) -> str:
        return f"Node({self.name or self.kind})"

    @functools.cached_property
    def fields(self) -> dict[str, Node]:
        """A struct's declared fields."""
        props = self._schema.get("properties", {}) if self.kind == "struct" else {}
        return {key: self._registry.node(sub) for key, sub in props.items()}

    @functools.cached_property
    def values(self) -> Node | None:
        """The type of a map's values (and of a struct's undeclared fields, if it allows any)."""
        extra = self._schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return self._registry.node(extra)
        return self._registry.any if self.kind == "any" else None

    @functools.cached_property
    def items(self) -> Node:
        """The type of a list's items."""
        sub = self._schema.get("items")
        return self._registry.node(sub) if isinstance(sub, Mapping) else self._registry.any

    @functools.cached_property
    def key_defaults(self) -> dict[str, Any]:
        """Defaults of a keyed list's key fields, for items that leave them out."""
        item = self.items.name
        return {k: _KEY_DEFAULTS[item, k] for k in self.keys if (item, k) in _KEY_DEFAULTS}

    @property
    def untyped(self) -> Node:
        """The node for anything the schema leaves open."""
        return self._registry.any

    def field(self, name: str) -> Node | None:
        """The type of a struct's or map's entry `name`; None when the schema has no such field."""
        if self.kind == "struct":
            return self.fields.get(name) or self.values
        return self.values

    def declares(self, name: str) -> bool:
        """Whether `name` is a named field of this struct (not a key of a map)."""
        return self.kind == "struct" and name in self.fields


def _scalar_type(types: set[str]) -> ScalarType:
    if types & {"integer", "number"}:
        return "numeric"
    if "boolean" in types:
        return "boolean"
    return "string"


def _list_shape(schema: Mapping[str, Any]) -> tuple[ListType, tuple[str, ...]]:
    """A list's type, falling back to the patch strategy as kube-openapi's converter does."""
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "map":
        return "map", tuple(schema.get("x-kubernetes-list-map-keys", ()))
    if list_type in ("atomic", "set"):
        return list_type, ()
    if "merge" in str(schema.get("x-kubernetes-patch-strategy", "")).split(","):
        key = schema.get("x-kubernetes-patch-merge-key")
        return ("map", (key,)) if key else ("set", ())
    return "atomic", ()


class SchemaRegistry:
    """Every kind the simulated cluster knows, by apiVersion and kind."""

    def __init__(self, definitions: Mapping[str, Mapping[str, Any]]) -> None:
        self._defs = definitions
        self._nodes: dict[tuple[str, str | None], Node] = {}
        self._inline: dict[int, Node] = {}
        self._kinds: dict[tuple[str, str], str] = {}
        for name, schema in definitions.items():
            for gvk in schema.get("x-kubernetes-group-version-kind", ()):
                group, version = gvk.get("group", ""), gvk["version"]
                api_version = f"{group}/{version}" if group else version
                self._kinds.setdefault((api_version, gvk["kind"]), name)
        self.any = Node(self, {})

    @classmethod
    def load(cls) -> SchemaRegistry:
        """Kubernetes v1.36 and the snapshot CRDs; loaded once per process."""
        return _shared_registry()

    def knows(self, api_version: str, kind: str) -> bool:
        """Whether a schema declares this apiVersion and kind."""
        return (api_version, kind) in self._kinds

    def root(self, api_version: str, kind: str) -> Node:
        """The type of a whole object of this apiVersion and kind."""
        try:
            name = self._kinds[api_version, kind]
        except KeyError:
            raise UnknownKind(f"no schema for {api_version}, Kind={kind}") from None
        return self._definition(name)

    def unknown_fields(self, api_version: str, kind: str, obj: Mapping[str, Any]) -> list[str]:
        """Paths of fields the schema does not declare, as a real API server's strict decoding
        names them: 'spec.foo', 'spec.template.spec.containers[0].bogus', 'metadata.labelz'.
        Ignores 'apiVersion', 'kind'. In document order."""
        root = self.root(api_version, kind)
        return list(_unknown(obj, root, ""))

    def node(self, schema: Mapping[str, Any]) -> Node:
        """The node for a schema fragment: a `$ref` (with its property's map type) or inline."""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1] if ref.startswith(_REF_PREFIX) else ref
            return self._definition(name, schema.get("x-kubernetes-map-type"))
        node = self._inline.get(id(schema))
        if node is None:
            node = self._inline[id(schema)] = Node(self, schema)
        return node

    def _definition(self, name: str, relationship: str | None = None) -> Node:
        node = self._nodes.get((name, relationship))
        if node is None:
            node = Node(self, self._defs[name], name, relationship)
            self._nodes[name, relationship] = node
        return node


def _unknown(value: Any, node: Node, path: str) -> Iterator[str]:
    if node.kind in ("struct", "map") and isinstance(value, Mapping):
        for key, sub in value.items():
            child = node.field(key)
            where = f"{path}.{key}" if path else key
            if child is None:
                yield where
            else:
                yield from _unknown(sub, child, where)
    elif node.kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unknown(item, node.items, f"{path}[{i}]")


@functools.cache
def _shared_registry() -> SchemaRegistry:
    # Found without importing kubernetes_validate, which would import jsonschema (80 ms).
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("kubernetes-validate is not installed")
    package = pathlib.Path(next(iter(spec.submodule_search_locations)))
    with (package / _KUBERNETES).open("rb") as f:
        definitions: dict[str, Mapping[str, Any]] = json.load(f)["$defs"]
    ours = resources.files("runway.simcluster") / "schemadata"
    for extra in _EXTRA:
        with ours.joinpath(extra).open("rb") as f:
            definitions.update(json.load(f)["$defs"])
    return SchemaRegistry(definitions)
