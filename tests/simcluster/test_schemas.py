"""The schemas the simulated cluster checks objects against, and the field paths managedFields use."""

from __future__ import annotations

import json

import pytest

from runway.simcluster import fieldpath as fp
from runway.simcluster.fieldpath import FieldSet
from runway.simcluster.schemas import SchemaRegistry, UnknownKind

REG = SchemaRegistry.load()


def deployment(**spec_extra):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
            **spec_extra,
        },
    }


# -- which kinds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "Pod"),
        ("v1", "PersistentVolumeClaim"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "Job"),
        ("networking.k8s.io/v1", "Ingress"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("policy/v1", "PodDisruptionBudget"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"),
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass"),
    ],
)
def test_every_kind_runway_uses_has_a_schema(api_version, kind):
    assert REG.knows(api_version, kind)


def test_kinds_in_the_wrong_group_or_version_are_unknown():
    assert not REG.knows("v1", "Deployment")
    assert not REG.knows("apps/v1beta1", "Deployment")
    assert not REG.knows("snapshot.storage.k8s.io/v1beta1", "VolumeSnapshot")
    with pytest.raises(UnknownKind, match="no schema for v1, Kind=Deployment"):
        REG.unknown_fields("v1", "Deployment", {})


def test_the_registry_is_loaded_once():
    assert SchemaRegistry.load() is REG


# -- strict decoding -----------------------------------------------------------------------------


def test_a_valid_deployment_has_no_unknown_fields():
    assert REG.unknown_fields("apps/v1", "Deployment", deployment(replicas=3)) == []


def test_unknown_fields_are_named_as_strict_decoding_names_them_in_document_order():
    obj = deployment(foo=1)
    obj["metadata"]["labelz"] = {"a": "b"}
    obj["spec"]["template"]["spec"]["containers"].append({"name": "side", "bogus": True})
    obj["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "x": 1}]
    assert REG.unknown_fields("apps/v1", "Deployment", obj) == [
        "metadata.labelz",
        "spec.template.spec.containers[0].ports[0].x",
        "spec.template.spec.containers[1].bogus",
        "spec.foo",
    ]


def test_what_lies_below_an_unknown_field_is_not_reported_again():
    obj = deployment(extra={"deeper": {"still": 1}})
    assert REG.unknown_fields("apps/v1", "Deployment", obj) == ["spec.extra"]


def test_maps_take_any_key_and_untyped_fields_anything():
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "annotations": {"any/key": "v"},
            "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {"f:x": {}}}}],
        },
        "data": {"whatever": "x", "other.key": "y"},
    }
    assert REG.unknown_fields("v1", "ConfigMap", config_map) == []
    config_map["date"] = {}
    assert REG.unknown_fields("v1", "ConfigMap", config_map) == ["date"]


def test_the_snapshot_crds_are_strict_too():
    snapshot = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": "s1", "namespace": "ns", "labelz": {}},
        "spec": {
            "volumeSnapshotClassName": "csi",
            "source": {"persistentVolumeClaimName": "data", "pvc": "data"},
        },
        "status": {"readyToUse": True, "restoreSize": "1Gi", "size": 1},
    }
    assert REG.unknown_fields("snapshot.storage.k8s.io/v1", "VolumeSnapshot", snapshot) == [
        "metadata.labelz",
        "spec.source.pvc",
        "status.size",
    ]
    snapshot_class = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": "csi"},
        "driver": "hostpath.csi.k8s.io",
        "deletionPolicy": "Delete",
        "parameters": {"anything": "goes"},
        "spec": {},
    }
    assert REG.unknown_fields(
        "snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", snapshot_class
    ) == ["spec"]


# -- what apply needs to know --------------------------------------------------------------------


def test_list_keys_and_map_types_come_from_the_schema():
    pod_spec = REG.root("apps/v1", "Deployment").field("spec").field("template").field("spec")
    containers = pod_spec.field("containers")
    assert (containers.list_type, containers.keys) == ("map", ("name",))
    ports = containers.items.field("ports")
    assert (ports.list_type, ports.keys, ports.key_defaults) == (
        "map",
        ("containerPort", "protocol"),
        {"protocol": "TCP"},
    )
    assert containers.items.field("env").keys == ("name",)
    assert pod_spec.field("volumes").keys == ("name",)
    assert containers.items.field("args").atomic
    assert pod_spec.field("nodeSelector").atomic
    assert pod_spec.field("nodeSelector").kind == "map"


def test_selectors_are_atomic_and_labels_granular():
    deployment_spec = REG.root("apps/v1", "Deployment").field("spec")
    assert deployment_spec.field("selector").atomic
    service_spec = REG.root("v1", "Service").field("spec")
    assert service_spec.field("selector").atomic
    assert service_spec.field("ports").keys == ("port", "protocol")
    metadata = REG.root("v1", "ConfigMap").field("metadata")
    assert not metadata.field("labels").atomic
    assert metadata.field("finalizers").list_type == "set"
    assert metadata.field("ownerReferences").keys == ("uid",)


def test_a_property_can_override_its_types_map_type():
    pv_spec = REG.root("v1", "PersistentVolume").field("spec")
    assert pv_spec.field("claimRef").name == "io.k8s.api.core.v1.ObjectReference"
    assert not pv_spec.field("claimRef").atomic
    event = REG.root("v1", "Event")
    assert event.field("involvedObject").atomic


def test_quantities_and_int_or_strings_are_scalars_and_raw_objects_untyped():
    container = REG.root("v1", "Pod").field("spec").field("containers").items.field("resources")
    assert container.field("limits").values.kind == "scalar"
    strategy = REG.root("apps/v1", "Deployment").field("spec").field("strategy")
    assert strategy.field("rollingUpdate").field("maxSurge").kind == "scalar"
    revision = REG.root("apps/v1", "ControllerRevision")
    assert revision.field("data").kind == "any"


# -- field paths ---------------------------------------------------------------------------------


def test_keys_are_written_like_go_json_sorted_by_field_name():
    assert (
        fp.key({"protocol": "TCP", "containerPort": 80})
        == 'k:{"containerPort":80,"protocol":"TCP"}'
    )
    assert fp.value("a<b&c>") == 'v:"a\\u003cb\\u0026c\\u003e"'
    assert fp.field("spec") == "f:spec"


def test_paths_print_as_the_api_server_prints_them():
    path = (
        "f:spec",
        "f:template",
        "f:spec",
        "f:containers",
        'k:{"name":"web"}',
        "f:ports",
        'k:{"containerPort":80,"protocol":"TCP"}',
        "f:hostPort",
    )
    assert (
        fp.path_string(path)
        == '.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].hostPort'
    )
    assert fp.path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'
    assert fp.path_string(("f:spec", "f:args", "i:0")) == ".spec.args[0]"


def test_fields_v1_round_trips_with_dot_first_and_fields_before_keys():
    fields_v1 = {
        "f:metadata": {"f:finalizers": {".": {}, 'v:"a"': {}, 'v:"b"': {}}},
        "f:spec": {
            "f:ports": {
                'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}},
                'k:{"port":443,"protocol":"TCP"}': {".": {}, "f:port": {}},
            },
            "f:selector": {},
        },
    }
    parsed = FieldSet.from_fields_v1(fields_v1)
    assert parsed.has(("f:metadata", "f:finalizers"))
    assert not parsed.has(("f:spec",))
    written = parsed.to_fields_v1()
    assert json.dumps(written) == json.dumps(fields_v1)
    # Keys sort by value: 80 before 443, though "443" < "80" as text.
    assert list(written["f:spec"]["f:ports"]) == [
        'k:{"port":80,"protocol":"TCP"}',
        'k:{"port":443,"protocol":"TCP"}',
    ]


def test_set_algebra_follows_structured_merge_diff():
    a = FieldSet.of(("f:spec", "f:replicas"), ("f:spec", "f:selector"), ("f:data",))
    b = FieldSet.of(("f:spec", "f:replicas"), ("f:data", "f:x"))
    assert a.intersection(b) == FieldSet.of(("f:spec", "f:replicas"))
    # A member takes nothing below it: `data` stays a member though `data.x` is taken.
    assert a.difference(b) == FieldSet.of(("f:spec", "f:selector"), ("f:data",))
    assert a.union(b) == FieldSet.of(*a.paths(), *b.paths())
    assert a.union(b).has(("f:data", "f:x"))
    assert list(a.paths()) == [("f:data",), ("f:spec", "f:replicas"), ("f:spec", "f:selector")]
    with pytest.raises(ValueError, match="invalid fieldsV1"):
        FieldSet.from_fields_v1({"spec": {}})
