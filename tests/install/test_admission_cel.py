"""The admission policy's CEL, evaluated (with cel-python, where it is installed: the
simulated cluster does not evaluate CEL): what runway itself sends for an environment passes,
and each way runway's ServiceAccount could reach beyond environments' namespaces is denied."""

from __future__ import annotations

from typing import Any

import pytest

from runway.deploy.environment_objects import (
    EnvironmentSettings,
    EnvironmentSpec,
    namespace,
    role_binding,
)
from runway.install import InstallOptions, check, render

celpy = pytest.importorskip("celpy", reason="cel-python is not installed (pip install cel-python)")

OPTIONS = check(InstallOptions(public_url="http://runway.example.com", namespace="tools"))
SETTINGS = EnvironmentSettings(service_account_namespace="tools", tenant_role=OPTIONS.tenant_role)
SPEC = EnvironmentSpec(namespace="rw-ann-prod", owner="ann", environment="prod")
OURS = namespace(SPEC)
BINDING = role_binding(SPEC, SETTINGS)


def _policy() -> dict[str, Any]:
    return next(o for o in render(OPTIONS, "pw", "tk") if o["kind"] == "ValidatingAdmissionPolicy")


def denials(
    resource: str, operation: str, new: Any, old: Any = None, in_namespace: Any = None
) -> list[str]:
    """The messages of the validations that deny the request (none: admitted)."""
    spec = _policy()["spec"]
    env = celpy.Environment()
    name = (new or old)["metadata"]["name"]
    request = {
        "operation": operation,
        "name": name,
        "resource": {"resource": resource},
        "userInfo": {"username": "system:serviceaccount:tools:runway"},
    }
    activation = {
        "request": celpy.json_to_cel(request),
        "object": celpy.json_to_cel(new),
        "oldObject": celpy.json_to_cel(old),
        "namespaceObject": celpy.json_to_cel(in_namespace),
    }
    (condition,) = spec["matchConditions"]
    assert bool(env.program(env.compile(condition["expression"])).evaluate(activation))
    denied = []
    for validation in spec["validations"]:
        try:
            result = env.program(env.compile(validation["expression"])).evaluate(activation)
        except celpy.CELEvalError:
            result = False  # failurePolicy Fail: an error denies
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            denied.append(validation["message"])
    return denied


def labelled(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, **({"labels": labels} if labels is not None else {})}}


def binding(role: str = OPTIONS.tenant_role, subjects: Any = None) -> dict[str, Any]:
    given = dict(BINDING, roleRef=dict(BINDING["roleRef"], name=role))
    if subjects is not None:
        given["subjects"] = subjects
    return given


def test_what_runway_sends_for_an_environment_is_admitted():
    assert denials("namespaces", "CREATE", OURS) == []
    assert denials("namespaces", "UPDATE", OURS, OURS) == []
    assert denials("namespaces", "DELETE", None, OURS) == []
    assert denials("rolebindings", "CREATE", BINDING, None, OURS) == []
    assert denials("rolebindings", "UPDATE", BINDING, BINDING, OURS) == []


@pytest.mark.parametrize(
    ("title", "request_", "said"),
    [
        ("kube-system", ("namespaces", "CREATE", labelled("kube-system", OURS["metadata"]["labels"])), "environments' namespaces"),
        ("unlabelled", ("namespaces", "CREATE", labelled("rw-x")), "labelled"),
        ("labelling another's", ("namespaces", "UPDATE", OURS, labelled("rw-ann-prod", {})), "labelled"),
        ("deleting monitoring", ("namespaces", "DELETE", None, labelled("monitoring")), "environments' namespaces"),
        ("binding in kube-system", ("rolebindings", "CREATE", BINDING, None, labelled("kube-system")), "binds roles only in"),
        ("binding in an unlabelled rw-", ("rolebindings", "CREATE", BINDING, None, labelled("rw-x")), "binds roles only in"),
        ("binding cluster-admin", ("rolebindings", "CREATE", binding("cluster-admin"), None, OURS), "binds only the ClusterRole"),
        ("binding someone else", ("rolebindings", "CREATE", binding(subjects=[{"kind": "User", "name": "eve"}]), None, OURS), "its own ServiceAccount"),
        ("binding another too", ("rolebindings", "CREATE", binding(subjects=[*BINDING["subjects"], {"kind": "User", "name": "eve"}]), None, OURS), "its own ServiceAccount"),
        ("binding nobody", ("rolebindings", "CREATE", {k: v for k, v in BINDING.items() if k != "subjects"}, None, OURS), "its own ServiceAccount"),
    ],
)  # fmt: skip
def test_reaching_beyond_environments_namespaces_is_denied(
    title: str, request_: tuple[Any, ...], said: str
):
    denied = denials(*request_)
    assert denied and any(said in message for message in denied), (title, denied)
