"""Server-side apply as kubernetes-asyncio drives it: create, re-apply, conflicts, force, removal."""

from __future__ import annotations

import json

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import APPLY, deployment, failure, raw, status_fields

pytestmark = pytest.mark.anyio


async def _apply(api, namespace, body, manager="A", force=None, status=False):
    apps = client.AppsV1Api(api)
    call = apps.patch_namespaced_deployment_status if status else apps.patch_namespaced_deployment
    options = {"field_manager": manager, "_content_type": APPLY}
    if force is not None:
        options["force"] = force
    return await call(body["metadata"]["name"], namespace, body, **options)


async def _apply_raw(api, namespace, body, manager="A"):
    name = body["metadata"]["name"]
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}?fieldManager={manager}"
    return await raw(api, "PATCH", path, body=json.dumps(body).encode(), content_type=APPLY)


def _owners(obj, field="f:replicas"):
    """Who owns a field of the spec (controllers own status fields of the same name)."""
    return sorted(
        entry.manager
        for entry in obj.metadata.managed_fields
        if field in json.dumps((entry.fields_v1 or {}).get("f:spec", {}))
    )


def _entry(metadata, manager="A"):
    [entry] = [e for e in metadata["managedFields"] if e["manager"] == manager]
    return entry


async def test_first_apply_creates_and_the_same_apply_changes_nothing(api, namespace):
    first = await _apply_raw(api, namespace, deployment("d1", replicas=2))
    assert first.status == 201
    again = await _apply_raw(api, namespace, deployment("d1", replicas=2))
    assert again.status == 200
    # The Deployment controller writes its status meanwhile (its own manager, its own
    # resourceVersions): the applier's entry and the spec's generation stay exactly as they were.
    before, after = first.json()["metadata"], again.json()["metadata"]
    assert after["generation"] == before["generation"]
    assert json.dumps(_entry(after)) == json.dumps(_entry(before))
    entry = _entry(after)
    assert (entry["operation"], entry["fieldsType"]) == ("Apply", "FieldsV1")
    assert entry["fieldsV1"]["f:spec"]["f:selector"] == {}  # a LabelSelector is atomic


async def test_the_same_apply_of_an_object_no_controller_touches_changes_nothing(api, namespace):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"a": "1"}}
    path = f"/api/v1/namespaces/{namespace}/configmaps/c1?fieldManager=A"
    first = await raw(api, "PATCH", path, body=json.dumps(body).encode(), content_type=APPLY)
    again = await raw(api, "PATCH", path, body=json.dumps(body).encode(), content_type=APPLY)
    assert (first.status, again.status) == (201, 200)
    before, after = first.json()["metadata"], again.json()["metadata"]
    assert after["resourceVersion"] == before["resourceVersion"]
    assert json.dumps(after["managedFields"]) == json.dumps(before["managedFields"])


async def test_another_manager_changing_an_owned_field_conflicts(api, namespace):
    await _apply(api, namespace, deployment("d2", replicas=2), manager="A")
    status, body = await failure(_apply(api, namespace, deployment("d2", replicas=3), manager="B"))
    assert status == 409
    assert status_fields(body) == (
        'Apply failed with 1 conflict: conflict with "A": .spec.replicas',
        "Conflict",
        409,
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "A"',
            "field": ".spec.replicas",
        }
    ]


async def test_force_moves_the_field_to_the_new_manager(api, namespace):
    await _apply(api, namespace, deployment("d3", replicas=2), manager="A")
    forced = await _apply(api, namespace, deployment("d3", replicas=3), manager="B", force=True)
    assert forced.spec.replicas == 3
    assert _owners(forced) == ["B"]


async def test_a_field_its_only_manager_stops_sending_is_removed(api, namespace):
    labelled = deployment("d4", replicas=3)
    labelled["metadata"]["labels"] = {"team": "blue", "tier": "web"}
    await _apply(api, namespace, labelled)
    trimmed = deployment("d4")
    trimmed["metadata"]["labels"] = {"tier": "web"}
    after = await _apply(api, namespace, trimmed)
    assert after.metadata.labels == {"tier": "web"}
    assert after.spec.replicas == 1  # nobody owns it any more: back to its default


async def test_a_field_another_manager_also_owns_is_kept(api, namespace):
    await _apply(api, namespace, deployment("d5", replicas=2), manager="A")
    await _apply(api, namespace, deployment("d5", replicas=2), manager="B")
    after = await _apply(api, namespace, deployment("d5"), manager="A")
    assert after.spec.replicas == 2
    assert _owners(after) == ["B"]


async def test_apply_without_a_field_manager_is_refused(api, namespace):
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/d6"
    answer = await raw(
        api, "PATCH", path, body=json.dumps(deployment("d6")).encode(), content_type=APPLY
    )
    assert answer.status == 422
    message, reason, _ = status_fields(answer.json())
    assert reason == "Invalid"
    assert message.endswith("fieldManager: Required value: is required for apply patch")


async def test_an_unknown_field_in_apply_is_a_500_without_reason(api, namespace):
    body = deployment("d7")
    body["spec"]["foo"] = 1
    for validation in ("Strict", "Ignore"):
        status, answer = await failure(
            client.AppsV1Api(api).patch_namespaced_deployment(
                "d7",
                namespace,
                body,
                field_manager="A",
                field_validation=validation,
                _content_type=APPLY,
            )
        )
        assert status == 500
        assert "reason" not in answer
        assert answer["message"] == (
            "failed to create typed patch object (/d7; apps/v1, Kind=Deployment): .spec.foo: "
            "field not declared in schema"
        )


async def test_a_create_then_an_apply_conflicts_with_the_update_manager(api, namespace):
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(
        namespace, deployment("d8", replicas=2), field_manager="setup"
    )
    status, body = await failure(_apply(api, namespace, deployment("d8", replicas=4)))
    assert status == 409
    assert body["message"] == (
        'Apply failed with 1 conflict: conflict with "setup" using apps/v1: .spec.replicas'
    )


async def test_apply_to_status_changes_only_status(api, namespace):
    created = await _apply(api, namespace, deployment("d9", replicas=2))
    status = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d9"},
        "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2},
    }
    after = await _apply(api, namespace, status, manager="controller", status=True)
    assert after.status.available_replicas == 2
    assert after.metadata.generation == created.metadata.generation
    entry = next(e for e in after.metadata.managed_fields if e.manager == "controller")
    assert entry.subresource == "status"
