"""What a real API server refuses, with the status, reason and message FACTS.md records."""

from __future__ import annotations

import json

import pytest
from kubernetes_asyncio import client

from tests.conformance.kube import MERGE, config_map, deployment, failure, job, raw, status_fields

pytestmark = pytest.mark.anyio


def _with_unknown_fields(name: str) -> dict:
    body = deployment(name)
    body["spec"] = {"foo": 1, **body["spec"]}  # errors are listed in document order
    body["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    return body


async def test_strict_create_names_every_unknown_field(api, namespace):
    apps = client.AppsV1Api(api)
    status, body = await failure(
        apps.create_namespaced_deployment(
            namespace, _with_unknown_fields("d1"), field_validation="Strict"
        )
    )
    assert status == 400
    assert status_fields(body) == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.foo", unknown field "spec.template.spec.containers[0].bogus"',
        "BadRequest",
        400,
    )


async def test_strict_create_names_duplicate_fields(api, namespace):
    text = (
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"},"data":{"k":"v"}}'
    )
    answer = await raw(
        api,
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Strict",
        body=text.encode(),
    )
    assert answer.status == 400
    assert status_fields(answer.json())[0] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'duplicate field "metadata.name"'
    )


async def test_unknown_fields_warn_by_default_and_are_dropped(api, namespace):
    apps = client.AppsV1Api(api)
    _, code, headers = await apps.create_namespaced_deployment_with_http_info(
        namespace, _with_unknown_fields("d2")
    )
    assert code == 201
    assert headers.getall("Warning") == [
        '299 - "unknown field \\"spec.foo\\""',
        '299 - "unknown field \\"spec.template.spec.containers[0].bogus\\""',
    ]
    stored = await raw(api, "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/d2")
    assert "foo" not in stored.json()["spec"]


async def test_strict_merge_patch_is_a_422(api, namespace):
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(namespace, deployment("d3"))
    status, body = await failure(
        apps.patch_namespaced_deployment(
            "d3", namespace, {"spec": {"foo": 1}}, field_validation="Strict", _content_type=MERGE
        )
    )
    assert status == 422
    message, reason, _ = status_fields(body)
    assert reason == "Invalid"
    assert message.endswith('strict decoding error: unknown field "spec.foo"')
    assert body["details"]["causes"][0]["field"] == "patch"


async def test_malformed_json_is_a_400_never_a_500(api, namespace):
    answer = await raw(
        api, "POST", f"/api/v1/namespaces/{namespace}/configmaps", body=b'{"metadata": '
    )
    assert answer.status == 400
    assert status_fields(answer.json())[1] == "BadRequest"
    answer = await raw(api, "POST", f"/api/v1/namespaces/{namespace}/configmaps", body=b"[1, 2]")
    assert answer.status == 400


async def test_bodies_over_3_mib_are_refused(api, namespace):
    big = json.dumps(config_map("big", {"blob": "x" * (3 * 1024 * 1024 + 10)})).encode()
    answer = await raw(api, "POST", f"/api/v1/namespaces/{namespace}/configmaps", body=big)
    assert answer.status == 413
    assert status_fields(answer.json())[1] == "RequestEntityTooLarge"


async def test_wrong_types_are_refused_not_stored(api, namespace):
    body = deployment("typed")
    body["spec"]["replicas"] = "three"
    answer = await raw(
        api,
        "POST",
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        body=json.dumps(body).encode(),
    )
    assert answer.status == 400
    assert answer.json()["message"].startswith(
        'Deployment in version "v1" cannot be handled as a Deployment:'
    )


async def test_namespace_and_service_names_are_rfc_1123_labels(api):
    core = client.CoreV1Api(api)
    status, body = await failure(core.create_namespace({"metadata": {"name": "Bad_Name"}}))
    assert status == 422
    assert status_fields(body) == (
        'Namespace "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase '
        "RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
        "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        "Invalid",
        422,
    )
    assert body["details"] == {
        "name": "Bad_Name",
        "kind": "Namespace",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": body["message"].split("metadata.name: ", 1)[1],
                "field": "metadata.name",
            }
        ],
    }
    long_name = "a" * 64
    status, body = await failure(core.create_namespace({"metadata": {"name": long_name}}))
    # The defaulted kubernetes.io/metadata.name label is refused too, after the name.
    assert body["message"].startswith(
        f'Namespace "{long_name}" is invalid: [metadata.name: Invalid value: "{long_name}": '
        "must be no more than 63 characters, "
    )


async def test_service_names_are_labels_and_config_maps_subdomains(api, namespace):
    core = client.CoreV1Api(api)
    service = {"metadata": {"name": "web.v2"}, "spec": {"ports": [{"port": 80}]}}
    status, body = await failure(core.create_namespaced_service(namespace, service))
    assert status == 422
    assert body["message"].startswith(
        'Service "web.v2" is invalid: metadata.name: Invalid value: "web.v2": '
    )
    ok = await core.create_namespaced_config_map(namespace, config_map("web.v2"))
    assert ok.metadata.name == "web.v2"
    status, body = await failure(core.create_namespaced_config_map(namespace, config_map("Web")))
    assert body["message"] == (
        'ConfigMap "Web" is invalid: metadata.name: Invalid value: "Web": a lowercase RFC 1123 '
        "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
        "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )


async def test_a_64_character_deployment_name_is_accepted_with_a_warning(api, namespace):
    _, code, headers = await client.AppsV1Api(api).create_namespaced_deployment_with_http_info(
        namespace, deployment("d" * 64, labels={"app": "long"})
    )
    assert code == 201
    assert "a DNS label is recommended" in headers.get("Warning", "")


async def test_deployment_selector_is_immutable(api, namespace):
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(namespace, deployment("d4", labels={"app": "a"}))
    for _ in range(10):  # the controller's status writes may win the race: read again
        current = await apps.read_namespaced_deployment("d4", namespace)
        current.spec.selector.match_labels = {"app": "b"}
        current.spec.template.metadata.labels = {"app": "b"}
        status, body = await failure(apps.replace_namespaced_deployment("d4", namespace, current))
        if status != 409:
            break
    assert status == 422
    message, reason, _ = status_fields(body)
    assert reason == "Invalid"
    assert message.startswith('Deployment.apps "d4" is invalid: spec.selector: Invalid value: ')
    assert message.endswith(": field is immutable")
    assert body["details"]["group"] == "apps"
    assert body["details"]["causes"][0]["field"] == "spec.selector"


async def test_job_template_and_completions_are_immutable(api, namespace):
    batch = client.BatchV1Api(api)
    await batch.create_namespaced_job(namespace, job("j1"))
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "run", "image": "busybox:1.37"}]}}}
    }
    status, body = await failure(batch.patch_namespaced_job("j1", namespace, patch))
    assert status == 422
    assert body["message"].startswith('Job.batch "j1" is invalid: spec.template: Invalid value: ')
    assert body["message"].endswith(": field is immutable")
    status, body = await failure(
        batch.patch_namespaced_job("j1", namespace, {"spec": {"completions": 2}})
    )
    assert status == 422
    assert "spec.completions: Invalid value: 2: field is immutable" in body["message"]


async def test_claim_spec_is_immutable_while_pending(api, namespace):
    core = client.CoreV1Api(api)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await core.create_namespaced_persistent_volume_claim(namespace, claim)
    grow = {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    status, body = await failure(
        core.patch_namespaced_persistent_volume_claim("data", namespace, grow)
    )
    assert status == 422
    assert body["message"].startswith(
        'PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation '
        "except resources.requests and volumeAttributesClassName for bound claims"
    )


async def test_immutable_config_map_and_secret_data(api, namespace):
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(namespace, {**config_map("frozen"), "immutable": True})
    status, body = await failure(
        core.patch_namespaced_config_map("frozen", namespace, {"data": {"key": "changed"}})
    )
    assert status == 422
    assert status_fields(body)[0] == (
        'ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    )
    secret = {"metadata": {"name": "pw"}, "data": {"p": "YQ=="}, "immutable": True}
    await core.create_namespaced_secret(namespace, secret)
    status, body = await failure(
        core.patch_namespaced_secret("pw", namespace, {"data": {"p": "Yg=="}})
    )
    assert status_fields(body)[0] == (
        'Secret "pw" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    )


async def test_service_cluster_ip_cannot_change(api, namespace):
    core = client.CoreV1Api(api)
    made = await core.create_namespaced_service(
        namespace, {"metadata": {"name": "fixed"}, "spec": {"ports": [{"port": 80}]}}
    )
    other = "10.96.0.77" if made.spec.cluster_ip != "10.96.0.77" else "10.96.0.78"
    status, body = await failure(
        core.patch_namespaced_service(
            "fixed", namespace, {"spec": {"clusterIP": other, "clusterIPs": [other]}}
        )
    )
    assert status == 422
    assert body["message"].startswith(
        'Service "fixed" is invalid: spec.clusterIPs[0]: Invalid value:'
    )
    # A replace that leaves the address out keeps the allocated one.
    current = await core.read_namespaced_service("fixed", namespace)
    current.spec.cluster_ip = None
    current.spec.cluster_ips = None
    kept = await core.replace_namespaced_service("fixed", namespace, current)
    assert kept.spec.cluster_ip == made.spec.cluster_ip


async def test_already_exists_and_not_found(api, namespace):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    await core.create_namespaced_config_map(namespace, config_map("twice"))
    status, body = await failure(core.create_namespaced_config_map(namespace, config_map("twice")))
    assert (status, status_fields(body)) == (
        409,
        ('configmaps "twice" already exists', "AlreadyExists", 409),
    )
    status, body = await failure(apps.read_namespaced_deployment("missing", namespace))
    assert (status, status_fields(body)) == (
        404,
        ('deployments.apps "missing" not found', "NotFound", 404),
    )
    assert body["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}


async def test_creating_in_a_missing_namespace(api):
    status, body = await failure(
        client.CoreV1Api(api).create_namespaced_config_map("nope", config_map("c1"))
    )
    assert (status, status_fields(body)) == (404, ('namespaces "nope" not found', "NotFound", 404))


async def test_deleting_default_is_forbidden(api):
    status, body = await failure(client.CoreV1Api(api).delete_namespace("default"))
    assert status == 403
    assert status_fields(body)[1:] == ("Forbidden", 403)


async def test_unknown_write_options_are_invalid(api, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Loud&dryRun=Some"
    answer = await raw(api, "POST", path, body=json.dumps(config_map("opts")).encode())
    assert answer.status == 422
    assert answer.json()["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: [dryRun: Unsupported value: "Some": supported '
        'values: "All", fieldValidation: Unsupported value: "Loud": supported values: "Ignore", '
        '"Warn", "Strict"]'
    )


ODD_REQUESTS = [
    ("POST", "configmaps", b'{"metadata": "x"}', "application/json"),
    ("POST", "configmaps", b'{"metadata": {"name": "a", "labels": ["x"]}}', "application/json"),
    ("POST", "configmaps", b"\xff\xfe", "application/json"),
    ("POST", "configmaps", b"null", "application/json"),
    ("POST", "configmaps", b'{"metadata":{"name":"a"},"data":{"k":1}}', "application/json"),
    ("POST", "configmaps", b"a: &x [1]\nb: *x\n", "application/yaml"),
    ("POST", "configmaps", b"k8s\x00\x0a\x02", "application/vnd.kubernetes.protobuf"),
    ("PATCH", "configmaps/odd", b"[]", "application/merge-patch+json"),
    (
        "PATCH",
        "configmaps/odd",
        b'[{"op":"remove","path":"/data/\xc2\xb2"}]',
        "application/json-patch+json",
    ),
    ("PATCH", "configmaps/odd", b'{"data":"x"}', "application/strategic-merge-patch+json"),
    ("PATCH", "configmaps/odd?fieldManager=a", b"- 1\n", "application/apply-patch+yaml"),
    ("GET", "configmaps?limit=%C2%B2", b"", "application/json"),
    ("GET", "configmaps?continue=zzz", b"", "application/json"),
    ("GET", "configmaps?fieldSelector=x", b"", "application/json"),
    ("GET", "configmaps?watch=1&resourceVersion=abc", b"", "application/json"),
    ("DELETE", "configmaps/odd", b"garbage", "application/json"),
]


@pytest.mark.parametrize(("method", "path", "body", "content_type"), ODD_REQUESTS)
async def test_odd_requests_are_refused_never_a_server_error(
    api, namespace, method, path, body, content_type
):
    await client.CoreV1Api(api).create_namespaced_config_map(namespace, config_map("odd"))
    answer = await raw(
        api, method, f"/api/v1/namespaces/{namespace}/{path}", body=body, content_type=content_type
    )
    assert 400 <= answer.status < 500, answer.body
    assert answer.json()["kind"] == "Status"
