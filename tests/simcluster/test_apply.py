"""Server-side apply and managedFields, told as what a client of a real API server would see."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runway.simcluster.apply import ApplyConflict, ApplyError, record_update, server_side_apply
from runway.simcluster.schemas import SchemaRegistry

REG = SchemaRegistry.load()
T1, T2, T3, T4 = (f"2026-11-0{i}T10:00:00Z" for i in range(1, 5))


# -- a world: objects, the server's own part of a write, and who owns what -----------------------


def container(name="web", image="nginx:1.27", **extra):
    return {"name": name, "image": image, **extra}


def deployment(*containers, replicas=2, labels=None, volumes=None, **spec_extra):
    labels = labels or {"app": "web"}
    pod_spec = {"containers": list(containers) or [container()]}
    if volumes is not None:
        pod_spec["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": dict(labels)},
        "spec": {
            **({"replicas": replicas} if replicas is not None else {}),
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": pod_spec,
            },
            **spec_extra,
        },
    }


def config_map(data, name="settings", **metadata):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop", **metadata},
        **({"data": dict(data)} if data else {}),
    }


def service(ports, selector=None):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": selector or {"app": "web"}, "ports": ports},
    }


def server_side(obj, rv="1"):
    """What the API server adds around apply: identity, versions and its defaults."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta.setdefault("uid", "3f0c0a5e-0000-4000-8000-000000000001")
    meta.setdefault("creationTimestamp", T1)
    meta["resourceVersion"] = rv
    if obj["kind"] == "Deployment":
        spec = obj["spec"]
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
        )
        for c in spec["template"]["spec"]["containers"]:
            c.setdefault("imagePullPolicy", "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            for port in c.get("ports", []):
                port.setdefault("protocol", "TCP")
        obj.setdefault("status", {"observedGeneration": 1, "replicas": spec["replicas"]})
    if obj["kind"] == "Service":
        for port in obj["spec"]["ports"]:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port["port"])
    return obj


def apply(live, obj, manager="runway", *, force=False, now=T1, subresource=None):
    """One apply as the server does it: merge and account, then default."""
    out = server_side_apply(
        live, obj, manager=manager, force=force, registry=REG, now=now, subresource=subresource
    )
    return server_side(out)


def update(old, new, manager="kubectl-edit", *, now=T1, subresource=None):
    return record_update(old, new, manager=manager, registry=REG, now=now, subresource=subresource)


def entry(obj, manager, operation="Apply"):
    found = [
        e
        for e in obj["metadata"].get("managedFields", [])
        if e["manager"] == manager and e["operation"] == operation
    ]
    assert len(found) <= 1
    return found[0] if found else None


def owned(obj, manager, operation="Apply"):
    e = entry(obj, manager, operation)
    return e["fieldsV1"] if e else None


def containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def conflict(live, obj, manager="other", **kw):
    with pytest.raises(ApplyConflict) as caught:
        server_side_apply(live, obj, manager=manager, force=False, registry=REG, now=T2, **kw)
    return caught.value


# -- the first apply and the same apply again ----------------------------------------------------


def test_first_apply_records_its_fields_in_the_notation_kubectl_shows():
    obj = deployment(
        container(
            ports=[{"containerPort": 80}], env=[{"name": "MODE", "value": "prod"}], args=["-v"]
        )
    )
    created = server_side_apply(None, obj, manager="runway", force=False, registry=REG, now=T1)
    assert created["metadata"]["managedFields"] == [
        {
            "manager": "runway",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"web"}': {
                                    ".": {},
                                    "f:args": {},
                                    "f:env": {
                                        'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}
                                    },
                                    "f:image": {},
                                    "f:name": {},
                                    "f:ports": {
                                        'k:{"containerPort":80,"protocol":"TCP"}': {
                                            ".": {},
                                            "f:containerPort": {},
                                        }
                                    },
                                }
                            }
                        },
                    },
                },
            },
        }
    ]
    assert list(created["metadata"]["managedFields"][0]) == [
        "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1",
    ]  # fmt: skip
    without = copy.deepcopy(created)
    del without["metadata"]["managedFields"]
    assert without == obj


def test_the_same_apply_twice_changes_nothing_not_even_a_byte_of_managed_fields():
    obj = deployment(container(ports=[{"containerPort": 80}]))
    live = apply(None, obj, now=T1)
    again = server_side_apply(live, obj, manager="runway", force=False, registry=REG, now=T2)
    assert json.dumps(again) == json.dumps(live)


def test_apply_never_changes_its_inputs():
    obj = deployment()
    live = apply(None, obj)
    frozen_live, frozen_obj = copy.deepcopy(live), copy.deepcopy(obj)
    changed = deployment(container(image="nginx:2"), replicas=5)
    server_side_apply(live, changed, manager="runway", force=False, registry=REG, now=T2)
    assert (live, obj) == (frozen_live, frozen_obj)
    assert changed == deployment(container(image="nginx:2"), replicas=5)


def test_the_servers_own_fields_and_status_are_left_as_they_are():
    live = apply(None, deployment())
    sent = deployment(replicas=4)
    sent["metadata"].update(resourceVersion="999", uid="forged", generation=7)
    sent["status"] = {"replicas": 100}
    out = server_side_apply(live, sent, manager="runway", force=False, registry=REG, now=T2)
    assert out["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    assert out["metadata"]["uid"] == live["metadata"]["uid"]
    assert "generation" not in out["metadata"]
    assert out["status"] == live["status"]
    assert out["spec"]["replicas"] == 4
    assert "f:status" not in owned(out, "runway")


def test_time_moves_only_for_the_manager_whose_entry_or_object_changed():
    live = apply(None, deployment(), "runway", now=T1)
    live = apply(live, config_less(deployment(), labels={"team": "a"}), "labeller", now=T2)
    live = apply(live, deployment(replicas=3), "runway", now=T3)
    assert entry(live, "runway")["time"] == T3
    assert entry(live, "labeller")["time"] == T2
    assert [e["manager"] for e in live["metadata"]["managedFields"]] == ["labeller", "runway"]


def config_less(obj, labels):
    """Only the labels of `obj`: what a second manager applying nothing but labels sends."""
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": obj["metadata"]["name"], "labels": labels},
    }


# -- merging by the schema -----------------------------------------------------------------------


def test_containers_merge_by_name_and_keep_the_live_order():
    live = apply(None, deployment(container("web"), container("log", image="fluentbit")))
    live = apply(live, deployment(container("web"), container("proxy", image="envoy")), "mesh")
    assert [c["name"] for c in containers(live)] == ["web", "log", "proxy"]
    assert (
        'k:{"name":"proxy"}'
        in owned(live, "mesh")["f:spec"]["f:template"]["f:spec"]["f:containers"]
    )


def test_a_reordered_apply_orders_items_as_structured_merge_diff_does():
    live = apply(None, deployment(container("a"), container("b"), container("c")), "other")
    live = apply(live, deployment(container("d"), container("c"), container("a"), container("e")))
    # Items only the live object has keep their place; shared ones follow the applied order.
    assert [c["name"] for c in containers(live)] == ["b", "d", "c", "a", "e"]


def test_container_ports_are_keyed_by_port_and_protocol_with_protocol_defaulting_to_tcp():
    dns = container("dns", image="coredns", ports=[{"containerPort": 53}])
    live = apply(None, deployment(dns))
    assert containers(live)[0]["ports"] == [{"containerPort": 53, "protocol": "TCP"}]
    # The same port over UDP is another item; the TCP one sent without protocol is the live one.
    both = container(
        "dns",
        image="coredns",
        ports=[{"containerPort": 53}, {"containerPort": 53, "protocol": "UDP"}],
    )
    live = apply(live, deployment(both))
    assert containers(live)[0]["ports"] == [
        {"containerPort": 53, "protocol": "TCP"},
        {"containerPort": 53, "protocol": "UDP"},
    ]
    ports = owned(live, "runway")["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert list(ports['k:{"name":"dns"}']["f:ports"]) == [
        'k:{"containerPort":53,"protocol":"TCP"}',
        'k:{"containerPort":53,"protocol":"UDP"}',
    ]


def test_env_and_volumes_merge_by_name_across_managers():
    web = container(
        env=[{"name": "A", "value": "1"}], volumeMounts=[{"name": "d", "mountPath": "/d"}]
    )
    live = apply(None, deployment(web, volumes=[{"name": "d", "emptyDir": {}}]))
    injected = container(env=[{"name": "TRACE", "value": "on"}])
    live = apply(
        live,
        deployment(injected, volumes=[{"name": "certs", "secret": {"secretName": "c"}}]),
        "injector",
    )
    assert containers(live)[0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "TRACE", "value": "on"},
    ]
    assert [v["name"] for v in live["spec"]["template"]["spec"]["volumes"]] == ["d", "certs"]
    assert containers(live)[0]["image"] == "nginx:1.27"


def test_atomic_lists_are_replaced_whole_and_owned_as_one_field():
    live = apply(None, deployment(container(args=["--port", "80", "--verbose"])))
    live = apply(live, deployment(container(args=["--port", "81"])))
    assert containers(live)[0]["args"] == ["--port", "81"]
    assert (
        owned(live, "runway")["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}'][
            "f:args"
        ]
        == {}
    )


def test_a_label_selector_is_atomic_replaced_whole_and_owned_as_selector():
    live = apply(None, deployment())
    assert owned(live, "runway")["f:spec"]["f:selector"] == {}
    other = deployment()
    other["spec"]["selector"] = {"matchLabels": {"tier": "front"}}
    found = conflict(live, other)
    assert found.conflicts == [("runway", ".spec.selector")]
    forced = apply(live, other, "other", force=True)
    assert forced["spec"]["selector"] == {"matchLabels": {"tier": "front"}}


def test_a_services_selector_is_atomic_and_its_ports_keyed_by_port_and_protocol():
    live = apply(None, service([{"port": 80, "name": "http"}], {"app": "web", "tier": "front"}))
    live = apply(live, service([{"port": 80, "name": "http"}], {"app": "web"}))
    assert live["spec"]["selector"] == {"app": "web"}
    assert owned(live, "runway")["f:spec"]["f:selector"] == {}
    live = apply(live, service([{"port": 443, "name": "https"}]), "tls")
    assert [(p["port"], p["name"]) for p in live["spec"]["ports"]] == [(80, "http"), (443, "https")]


def test_granular_maps_merge_key_by_key_between_managers():
    live = apply(None, config_map({"a": "1"}, labels={"app": "web"}))
    live = apply(live, config_map({"b": "2"}, labels={"team": "x"}), "other")
    assert live["data"] == {"a": "1", "b": "2"}
    assert live["metadata"]["labels"] == {"app": "web", "team": "x"}
    assert owned(live, "runway") == {
        "f:data": {"f:a": {}},
        "f:metadata": {"f:labels": {"f:app": {}}},
    }
    assert owned(live, "other") == {
        "f:data": {"f:b": {}},
        "f:metadata": {"f:labels": {"f:team": {}}},
    }


def test_set_lists_merge_by_value():
    live = apply(None, config_map({}, finalizers=["a.example/x"]))
    live = apply(live, config_map({}, finalizers=["b.example/y"]), "other")
    assert live["metadata"]["finalizers"] == ["a.example/x", "b.example/y"]
    assert owned(live, "other") == {"f:metadata": {"f:finalizers": {'v:"b.example/y"': {}}}}


# -- fields a manager stops sending --------------------------------------------------------------


def test_a_field_its_only_owner_stops_sending_is_removed_for_the_server_to_default():
    live = apply(None, deployment(replicas=5))
    out = server_side_apply(
        live, deployment(replicas=None), manager="runway", force=False, registry=REG, now=T2
    )
    assert "replicas" not in out["spec"]
    assert "f:replicas" not in owned(out, "runway")["f:spec"]
    assert server_side(out)["spec"]["replicas"] == 1


def test_a_field_another_manager_also_owns_stays_until_both_stop_sending_it():
    live = apply(None, config_map({"a": "1", "shared": "x"}))
    live = apply(live, config_map({"shared": "x"}), "other")  # same value: shared, no conflict
    assert owned(live, "other") == {"f:data": {"f:shared": {}}}
    live = apply(live, config_map({"a": "1"}))
    assert live["data"] == {"a": "1", "shared": "x"}
    live = apply(live, config_map({"b": "2"}), "other")
    assert live["data"] == {"a": "1", "b": "2"}


def test_a_list_item_goes_whole_with_the_fields_the_server_defaulted():
    live = apply(None, deployment(container("web"), container("log", image="fluentbit")))
    assert containers(live)[1]["imagePullPolicy"] == "IfNotPresent"
    live = apply(live, deployment(container("web")))
    assert [c["name"] for c in containers(live)] == ["web"]


def test_a_list_item_goes_whole_even_when_an_update_changed_a_field_of_it():
    live = apply(None, deployment(container("web"), container("log", image="fluentbit")))
    edited = copy.deepcopy(live)
    containers(edited)[1]["image"] = "fluentbit:2"
    live = update(live, edited, "kubectl-edit", now=T2)
    assert owned(live, "kubectl-edit", "Update")["f:spec"]["f:template"]["f:spec"][
        "f:containers"
    ] == {'k:{"name":"log"}': {"f:image": {}}}
    live = apply(live, deployment(container("web")), now=T3)
    assert [c["name"] for c in containers(live)] == ["web"]
    assert entry(live, "kubectl-edit", "Update") is None


def test_an_item_another_manager_owns_keeps_its_key_when_its_other_fields_go():
    live = apply(
        None, deployment(container("web"), container("log", image="fluentbit", args=["-q"]))
    )
    # A manager that owns the item itself (`.`) but none of its fields, as an old writer may have.
    live["metadata"]["managedFields"].append(
        {
            "manager": "keeper",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {
                    "f:template": {"f:spec": {"f:containers": {'k:{"name":"log"}': {".": {}}}}}
                }
            },
        }
    )
    out = server_side_apply(
        live, deployment(container("web")), manager="runway", force=False, registry=REG, now=T2
    )
    log = containers(out)[1]
    assert log == {
        "name": "log",
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
    }


# -- conflicts and force -------------------------------------------------------------------------


def test_changing_anothers_field_is_a_conflict_worded_as_kube_apiserver_words_it():
    live = apply(None, deployment(), "A")
    found = conflict(live, deployment(replicas=3), "B")
    assert found.message() == 'Apply failed with 1 conflict: conflict with "A": .spec.replicas'
    assert found.conflicts == [("A", ".spec.replicas")]
    assert found.causes() == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "A"',
            "field": ".spec.replicas",
        }
    ]


def test_several_conflicts_are_listed_by_manager():
    live = apply(None, deployment(), "A")
    live = apply(live, config_less(deployment(), {"team": "a"}), "C")
    changed = deployment(container(image="nginx:2"), replicas=3, labels={"app": "web", "team": "b"})
    found = conflict(live, changed, "B")
    assert found.message() == (
        "Apply failed with 3 conflicts: "
        'conflicts with "A":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image\n'
        'conflicts with "C":\n'
        "- .metadata.labels.team"
    )


def test_fields_set_by_an_update_conflict_too_and_name_its_api_version():
    created = update(None, deployment(), "kubectl-create")
    found = conflict(created, deployment(replicas=7), "runway")
    assert found.message() == (
        'Apply failed with 1 conflict: conflict with "kubectl-create" using apps/v1: .spec.replicas'
    )
    taken = apply(created, deployment(replicas=7), "runway", force=True, now=T2)
    assert taken["spec"]["replicas"] == 7
    assert "f:replicas" not in owned(taken, "kubectl-create", "Update")["f:spec"]
    assert "f:replicas" in owned(taken, "runway")["f:spec"]


def test_force_moves_the_field_into_the_new_managers_entry():
    live = apply(None, config_map({"a": "1"}), "A")
    live = apply(live, config_map({"a": "2"}), "B", force=True, now=T2)
    assert live["data"] == {"a": "2"}
    assert entry(live, "A") is None  # it owned nothing else
    assert owned(live, "B") == {"f:data": {"f:a": {}}}
    assert entry(live, "B")["time"] == T2


def test_status_managers_are_separate_entries_and_write_only_status():
    live = apply(None, deployment())
    status = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 9},
        "status": {"readyReplicas": 2},
    }
    out = apply(live, status, "controller", subresource="status", now=T2)
    assert out["status"]["readyReplicas"] == 2
    assert out["spec"]["replicas"] == 2
    e = entry(out, "controller")
    assert e["subresource"] == "status"
    assert list(e) == [
        "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource",
    ]  # fmt: skip
    assert e["fieldsV1"] == {"f:status": {"f:readyReplicas": {}}}
    status["status"]["readyReplicas"] = 3
    found = conflict(out, status, "other-controller", subresource="status")
    assert found.message() == (
        'Apply failed with 1 conflict: conflict with "controller" with subresource "status":'
        " .status.readyReplicas"
    )


def test_quantities_are_compared_as_the_server_normalised_them():
    limited = container(resources={"limits": {"cpu": "1", "memory": "64Mi"}})
    live = apply(None, deployment(limited))
    same = server_side_apply(
        live, deployment(limited), manager="other", force=False, registry=REG, now=T2
    )
    assert (
        "f:resources"
        in owned(same, "other")["f:spec"]["f:template"]["f:spec"]["f:containers"][
            'k:{"name":"web"}'
        ]
    )
    halved = container(resources={"limits": {"cpu": "500m", "memory": "64Mi"}})
    found = conflict(live, deployment(halved))
    assert found.conflicts == [
        ("runway", '.spec.template.spec.containers[name="web"].resources.limits.cpu')
    ]


# -- patches that cannot be typed ----------------------------------------------------------------


def test_an_unknown_field_is_refused_with_the_message_of_record():
    obj = deployment(foo=1)
    del obj["metadata"]["namespace"]
    obj["metadata"]["name"] = "d1"
    with pytest.raises(ApplyError) as caught:
        server_side_apply(None, obj, manager="runway", force=False, registry=REG, now=T1)
    assert str(caught.value) == (
        "failed to create typed patch object (/d1; apps/v1, Kind=Deployment):"
        " .spec.foo: field not declared in schema"
    )


def test_untypable_patches_name_the_path_and_core_kinds_have_an_empty_group():
    def refused(obj):
        with pytest.raises(ApplyError) as caught:
            server_side_apply(None, obj, manager="runway", force=False, registry=REG, now=T1)
        return caught.value.message

    bad = config_map({"a": "1"})
    bad["metadata"]["labelz"] = {}
    assert refused(bad) == (
        "failed to create typed patch object (shop/settings; /v1, Kind=ConfigMap):"
        " .metadata.labelz: field not declared in schema"
    )
    assert refused(deployment(replicas="three")).endswith(
        ".spec.replicas: expected numeric (int or float), got string"
    )
    nameless = deployment({"image": "nginx"})
    assert refused(nameless).endswith(
        ".spec.template.spec.containers: element 0: associative list with keys has an element"
        ' that omits key field "name" (and doesn\'t have default value)'
    )
    twice = deployment(container(), container())
    assert refused(twice).endswith(
        '.spec.template.spec.containers: duplicate entries for key [name="web"]'
    )


# -- writes that are not applies -----------------------------------------------------------------


def test_a_create_records_an_update_entry_shaped_like_kube_apiservers():
    created = update(None, config_map({"a": "1"}, labels={"app": "web"}), "kubectl-create")
    assert created["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {".": {}, "f:a": {}},
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            },
        }
    ]
    deployed = update(None, server_side(deployment()), "kubectl-create")
    spec = owned(deployed, "kubectl-create", "Update")["f:spec"]
    assert "." not in spec
    assert "." not in spec["f:template"]["f:spec"]["f:containers"]
    assert "f:imagePullPolicy" in spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert "f:status" not in owned(deployed, "kubectl-create", "Update")


def test_a_write_that_changes_nothing_leaves_managed_fields_as_they_were():
    live = apply(None, deployment())
    out = update(live, copy.deepcopy(live), "kubectl-replace", now=T2)
    assert out["metadata"]["managedFields"] == live["metadata"]["managedFields"]
    bumped = copy.deepcopy(live)
    bumped["metadata"]["resourceVersion"] = "2"  # the server's own fields are nobody's
    assert (
        update(live, bumped, now=T2)["metadata"]["managedFields"]
        == live["metadata"]["managedFields"]
    )


def test_an_update_takes_the_fields_it_changes_without_a_conflict():
    live = apply(None, deployment())
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 4
    out = update(live, scaled, "kubectl-scale", now=T2)
    assert owned(out, "kubectl-scale", "Update") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owned(out, "runway")["f:spec"]
    assert entry(out, "runway")["time"] == T1
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["runway", "kubectl-scale"]


def test_an_update_that_removes_a_field_takes_it_from_its_owner():
    live = apply(None, config_map({"a": "1", "b": "2"}))
    trimmed = copy.deepcopy(live)
    del trimmed["data"]["b"]
    out = update(live, trimmed, now=T2)
    assert owned(out, "runway") == {"f:data": {"f:a": {}}}
    assert entry(out, "kubectl-edit", "Update") is None
    assert entry(out, "runway")["time"] == T1


def test_managed_fields_sent_with_a_write_replace_the_live_ones_and_an_empty_entry_clears_them():
    live = apply(None, config_map({"a": "1"}))
    cleared = copy.deepcopy(live)
    cleared["metadata"]["managedFields"] = [{}]
    assert "managedFields" not in update(live, cleared)["metadata"]
    omitted = copy.deepcopy(live)
    del omitted["metadata"]["managedFields"]
    assert update(live, omitted)["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_status_writes_are_recorded_apart_from_the_main_resource():
    live = apply(None, deployment())
    reported = copy.deepcopy(live)
    reported["status"].update(readyReplicas=2, availableReplicas=2)
    out = update(live, reported, "kube-controller-manager", subresource="status", now=T2)
    e = entry(out, "kube-controller-manager", "Update")
    assert e["subresource"] == "status"
    assert e["fieldsV1"] == {"f:status": {"f:availableReplicas": {}, "f:readyReplicas": {}}}
    # The same write to the main resource records nothing: status is not written there.
    assert (
        update(live, reported, "someone", now=T2)["metadata"]["managedFields"]
        == (live["metadata"]["managedFields"])
    )


# -- properties ----------------------------------------------------------------------------------

names = st.text(alphabet="abcxyz", min_size=1, max_size=4)
values = st.text(alphabet="ab01 -", max_size=5)


@st.composite
def config_maps(draw):
    obj = config_map(draw(st.dictionaries(names, values, max_size=4)))
    labels = draw(st.dictionaries(names, values, max_size=3))
    if labels:
        obj["metadata"]["labels"] = labels
    if draw(st.booleans()):
        obj["immutable"] = draw(st.booleans())
    return obj


@st.composite
def containers_of(draw, pool=("web", "log", "proxy")):
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    out = []
    for name in chosen:
        c = container(name, image=draw(st.sampled_from(["nginx:1", "nginx:2", "busybox"])))
        ports = draw(
            st.lists(
                st.tuples(st.sampled_from([53, 80, 443]), st.sampled_from([None, "TCP", "UDP"])),
                max_size=3,
                unique_by=lambda p: (p[0], p[1] or "TCP"),
            )
        )
        if ports:
            c["ports"] = [
                {"containerPort": n, **({"protocol": proto} if proto else {})} for n, proto in ports
            ]
        env = draw(st.lists(names, max_size=3, unique=True))
        if env:
            c["env"] = [{"name": e.upper(), "value": draw(values)} for e in env]
        if draw(st.booleans()):
            c["args"] = draw(st.lists(values, max_size=3))
        out.append(c)
    return out


@st.composite
def deployments(draw):
    replicas = draw(st.one_of(st.none(), st.integers(0, 5)))
    return deployment(*draw(containers_of()), replicas=replicas)


# No deadline: its slowest examples take up to 50 ms unloaded, past 200 ms under heavy load.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(config_maps(), deployments()))
def test_applying_the_same_object_twice_is_a_no_op(obj):
    live = apply(None, obj, now=T1)
    assert json.dumps(
        server_side_apply(live, obj, manager="runway", force=False, registry=REG, now=T2)
    ) == json.dumps(live)
    undefaulted = server_side_apply(None, obj, manager="runway", force=False, registry=REG, now=T1)
    again = server_side_apply(undefaulted, obj, manager="runway", force=False, registry=REG, now=T2)
    assert json.dumps(again) == json.dumps(undefaulted)


# No deadline: its slowest examples take up to 85 ms unloaded, past 200 ms under heavy load.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["A", "B"]), deployments()), min_size=1, max_size=5))
def test_removal_never_leaves_an_item_without_its_keys(steps):
    live = None
    for manager, obj in steps:
        live = apply(live, obj, manager, force=True, now=T2)
        for c in containers(live):
            assert c.get("name")
            assert all("containerPort" in p and "protocol" in p for p in c.get("ports", []))
            assert all(e.get("name") for e in c.get("env", []))
    # Each manager's last apply is all there: the containers it sent, with their ports.
    last = {}
    for manager, obj in steps:
        last[manager] = obj
    present = {c["name"]: c for c in containers(live)}
    for obj in last.values():
        for c in containers(obj):
            assert c["name"] in present
            sent = {(p["containerPort"], p.get("protocol", "TCP")) for p in c.get("ports", [])}
            have = {
                (p["containerPort"], p["protocol"]) for p in present[c["name"]].get("ports", [])
            }
            assert sent <= have
