"""Classifying what the cluster answers, by the Status's reason and message and not its code
alone: the answers are the ones a real API server gives (shared FACTS.md)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from runway.deploy.errors import (
    DeployError,
    NamespaceTerminating,
    NotFound,
    PermanentError,
    QuotaExceeded,
    TemporaryError,
    translate,
)


def _status(
    code: int,
    message: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> ApiException:
    error = ApiException(status=code, reason="whatever")
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "code": code,
    }
    if reason:
        body["reason"] = reason
    if details:
        body["details"] = details
    error.body = json.dumps(body)
    error.headers = headers or {}
    return error


def test_an_unknown_field_in_server_side_apply_is_permanent_despite_the_500() -> None:
    error = translate(
        _status(
            500,
            "failed to create typed patch object (/d1; apps/v1, Kind=Deployment): "
            ".spec.foo: field not declared in schema",
        )
    )
    assert type(error) is PermanentError
    assert "unknown field .spec.foo" in str(error)


def test_strict_decoding_names_every_unknown_field() -> None:
    error = translate(
        _status(
            400,
            'Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
            'error: unknown field "spec.foo", unknown field "spec.bar"',
            "BadRequest",
        )
    )
    assert isinstance(error, PermanentError)
    assert "spec.foo, spec.bar" in str(error)


def test_an_immutable_field_is_named_without_the_object_dump() -> None:
    dump = "{" + "x" * 5000 + "}"
    error = translate(
        _status(
            422,
            f'Job.batch "j1" is invalid: spec.template: Invalid value: {dump}: field is immutable',
            "Invalid",
            {
                "name": "j1",
                "group": "batch",
                "kind": "Job",
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {dump}: field is immutable",
                        "field": "spec.template",
                    }
                ],
            },
        )
    )
    assert isinstance(error, PermanentError)
    assert str(error) == "Job j1: invalid: spec.template: field is immutable"


def test_quota_is_permanent_and_names_the_limit() -> None:
    message = (
        'pods "p2" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, '
        "limited: pods=1"
    )
    error = translate(_status(403, message, "Forbidden"))
    assert isinstance(error, QuotaExceeded)
    assert isinstance(error, PermanentError)
    assert "limited: pods=1" in str(error)


def test_a_namespace_being_terminated_is_temporary() -> None:
    message = (
        'configmaps "c2" is forbidden: unable to create new content in namespace t9 because '
        "it is being terminated"
    )
    details = {"causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace"}]}
    error = translate(_status(403, message, "Forbidden", details))
    assert isinstance(error, NamespaceTerminating)
    assert isinstance(error, TemporaryError)


@pytest.mark.parametrize(
    ("code", "reason", "message", "kind"),
    [
        (403, "Forbidden", 'secrets is forbidden: User "x" cannot list', PermanentError),
        (404, "NotFound", 'deployments.apps "missing" not found', NotFound),
        (409, "AlreadyExists", 'namespaces "a" already exists', PermanentError),
        (
            409,
            "Conflict",
            'Operation cannot be fulfilled on configmaps "dupe": the object has been modified',
            TemporaryError,
        ),
        (
            500,
            "InternalError",
            "Internal error occurred: etcdserver: leader changed",
            TemporaryError,
        ),
        (
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            TemporaryError,
        ),
        (504, "Timeout", "the server was unable to return a response in time", TemporaryError),
    ],
)
def test_each_answer_is_permanent_or_temporary(
    code: int, reason: str, message: str, kind: type[DeployError]
) -> None:
    error = translate(_status(code, message, reason))
    assert type(error) is kind
    assert message in str(error)


def test_throttling_waits_as_long_as_the_server_asks() -> None:
    error = translate(
        _status(429, "Too many requests", "TooManyRequests", headers={"Retry-After": "3"})
    )
    assert isinstance(error, TemporaryError)
    assert error.delay == 3.0


def test_a_plain_text_answer_is_still_read() -> None:
    error = ApiException(status=404, reason="Not Found")
    error.body = "404 page not found\n"
    translated = translate(error)
    assert isinstance(translated, NotFound)
    assert str(translated) == "404 page not found"


def test_connection_errors_are_temporary() -> None:
    # A refused connection (ClusterUnavailable) is shown in test_connection.py, for real.
    dropped = translate(aiohttp.ServerDisconnectedError())
    assert type(dropped) is TemporaryError
    assert "dropped" in str(dropped)
    assert "did not answer in time" in str(translate(TimeoutError()))
