"""Discovery: `/api`, `/apis`, resource lists, `/version`, and the minimal `/openapi/v2`.

kubectl 1.32 asks for aggregated discovery first; answering with plain `application/json` (an
`APIGroupList`) makes it fall back to these legacy documents, as it does with older servers.
`/openapi/v3` is a 404, after which it uses `/openapi/v2`.
"""

from __future__ import annotations

from runway.simcluster.catalogue import Catalogue, ResourceType
from runway.simcluster.errors import Object

KUBERNETES_VERSION = "v1.36.2"

# The smallest OpenAPI v2 protobuf document (`swagger: "2.0"`): enough for kubectl's validation.
OPENAPI_V2 = b"\x0a\x032.0"


def version() -> Object:
    return {
        "major": "1",
        "minor": "36",
        "emulationMajor": "1",
        "emulationMinor": "36",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "35",
        # Build metadata says what this is wherever a client shows the server's version.
        "gitVersion": f"{KUBERNETES_VERSION}+runway-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": "go1.25.3",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> Object:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> Object:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(catalogue: Catalogue) -> Object:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, versions) for name, versions in catalogue.groups()],
    }


def api_group(catalogue: Catalogue, name: str) -> Object | None:
    for group, versions in catalogue.groups():
        if group == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}
    return None


def _entries(rt: ResourceType) -> list[Object]:
    entry: Object = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    entry["storageVersionHash"] = rt.storage_version_hash
    subresources = list(rt.extra_subresources)
    if rt.status:
        subresources.append(("status", ("get", "patch", "update")))
    return [entry] + [
        {
            "name": f"{rt.plural}/{name}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(verbs),
        }
        for name, verbs in subresources
    ]


def resource_list(catalogue: Catalogue, group: str, version: str) -> Object | None:
    served = catalogue.in_group_version(group, version)
    if not served:
        return None
    resources = [e for rt in served for e in _entries(rt)]
    resources.sort(key=lambda e: e["name"])
    listing: Object = {"kind": "APIResourceList"}
    if group:
        listing["apiVersion"] = "v1"
    listing["groupVersion"] = f"{group}/{version}" if group else version
    listing["resources"] = resources
    return listing
