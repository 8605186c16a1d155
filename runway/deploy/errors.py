"""The errors of the Kubernetes layer, and `translate`, the one place where kubernetes-asyncio's,
aiohttp's and asyncio's exceptions become them. Nothing above `runway.deploy` sees a library
exception.

Two families decide what a step does (as kopf's do): a `PermanentError` fails it now, saying
which field or limit; a `TemporaryError` is retried after `delay` seconds and, once the retries
are spent, fails it with its cause. The classification reads the Status's reason and message,
not the code alone: a real API server answers an unknown field in server-side apply with a 500
(`field not declared in schema`), which no retry cures.

    DeployError
    ├── PermanentError
    │   ├── NotFound
    │   ├── QuotaExceeded
    │   └── NamespaceNotOurs
    └── TemporaryError
        ├── ClusterUnavailable
        └── NamespaceTerminating
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

_LONGEST = 300  # a Job template's "field is immutable" message quotes the whole template


class DeployError(Exception):
    """Something the cluster refused or could not do; str() says what, in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermanentError(DeployError):
    """The cluster will answer the same however often it is asked: an invalid manifest or an
    unknown field (named), an immutable field changed, a forbidden request, an exceeded quota
    (the limit named), an object that does not exist or already does. Fail the step now."""


class NotFound(PermanentError):
    """The object or namespace asked for does not exist (404)."""


class QuotaExceeded(PermanentError):
    """The namespace's ResourceQuota refuses the object; the message names the quota, what was
    requested, used and the limit."""


class NamespaceNotOurs(PermanentError):
    """An environment's namespace exists but lacks runway's `app.kubernetes.io/managed-by`
    label: runway never adopts (nor deletes) a namespace it did not make."""


class TemporaryError(DeployError):
    """Asking again later may work: a server error (5xx other than a schema refusal), a 409
    of optimistic concurrency, throttling, a dropped connection, a timeout. Retry after `delay`
    seconds (the server's Retry-After where it gave one)."""

    def __init__(self, message: str, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class ClusterUnavailable(TemporaryError):
    """The cluster cannot be reached at all: no kubeconfig, an unreadable one, a server that
    refuses connections or whose certificate does not verify. The message says which."""


class Gone(TemporaryError):
    """410: the cluster no longer has the history asked for (a watch or list from a
    resourceVersion it compacted away): list again."""


class NamespaceTerminating(TemporaryError):
    """The environment's namespace is still being deleted; it can be made again once it is
    gone."""


def translate(error: BaseException) -> DeployError:
    """runway's error for a library's exception (an `ApiException`, an aiohttp or asyncio
    connection error or timeout); a DeployError is returned as it is."""
    if isinstance(error, DeployError):
        return error
    if isinstance(error, ApiException):
        return _from_api(error)
    if isinstance(error, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return ClusterUnavailable(f"the cluster's TLS certificate is not trusted: {error}", 5.0)
    if isinstance(error, aiohttp.ClientConnectorError):
        return ClusterUnavailable(
            f"cannot connect to the cluster at {error.host}:{error.port}: "
            f"{error.strerror or error.os_error}",
            2.0,
        )
    if isinstance(error, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return TemporaryError("the cluster did not answer in time", 1.0)
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return TemporaryError("the connection to the cluster dropped before it answered", 0.5)
    if isinstance(error, aiohttp.ClientError | OSError):
        return TemporaryError(f"the connection to the cluster failed: {error}", 0.5)
    if isinstance(error, ValueError):
        return TemporaryError(f"the cluster sent an answer runway cannot read: {error}", 1.0)
    return DeployError(f"unexpected error talking to the cluster: {error!r}")


def status_of(error: ApiException) -> dict[str, Any]:
    """The Kubernetes `Status` an ApiException carries (empty when its body is not one, as for
    the plain-text `404 page not found` of an unknown group)."""
    body = _body_text(error)
    try:
        status = json.loads(body) if body else None
    except ValueError:
        return {}
    return status if isinstance(status, dict) else {}


def _from_api(error: ApiException) -> DeployError:
    code = int(error.status or 0)
    status = status_of(error)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or _body_text(error) or error.reason or "no message")
    found = status.get("details")
    details: dict[str, Any] = found if isinstance(found, dict) else {}
    if "field not declared in schema" in message:
        fields = re.findall(r"(\.[^\s:]+): field not declared in schema", message)
        named = ", ".join(fields) or "a field"
        return PermanentError(f"{_what(details)}unknown field {named}: {_short(message)}")
    if "strict decoding error" in message:
        fields = re.findall(r'(?:unknown|duplicate) field "([^"]+)"', message)
        named = ", ".join(fields) or "a field"
        return PermanentError(f"{_what(details)}unknown or duplicate field {named}: {message}")
    if code == 0:
        return PermanentError(f"the request could not be made: {message}")
    if code == 401:
        return PermanentError(f"the cluster refused runway's credentials: {message}")
    if code == 403:
        return _forbidden(message, details)
    if code == 404:
        return NotFound(message)
    if code == 409:
        if reason == "AlreadyExists" or _causes(details, "FieldManagerConflict"):
            return PermanentError(message)
        return TemporaryError(f"{message} (another writer changed it first)", 0.2)
    if code == 410:
        return Gone(f"the cluster has moved on: {message}", 0.0)
    if code == 422:
        return PermanentError(_invalid(message, details))
    if code == 429 or code >= 500:
        return TemporaryError(f"the cluster answered {code}: {message}", _retry_after(error))
    return PermanentError(f"the cluster refused the request ({code} {reason}): {message}")


def _forbidden(message: str, details: dict[str, Any]) -> DeployError:
    if "exceeded quota" in message or "failed quota" in message:
        return QuotaExceeded(message)
    if "because it is being terminated" in message or _causes(details, "NamespaceTerminating"):
        return NamespaceTerminating(message, 1.0)
    if "error looking up service account" in message:
        # The namespace's `default` ServiceAccount is made by a controller just after the
        # namespace: a pod created in that moment is refused once.
        return TemporaryError(message, 0.5)
    return PermanentError(f"forbidden: {message}")


def _invalid(message: str, details: dict[str, Any]) -> str:
    """A 422's message, naming each field, without the object dumps some messages carry."""
    causes = [c for c in details.get("causes") or [] if isinstance(c, dict) and c.get("field")]
    if not causes:
        return _short(message)
    parts = [f"{c['field']}: {_short(_undumped(str(c.get('message') or '')))}" for c in causes]
    return f"{_what(details)}invalid: {'; '.join(parts)}"


def _undumped(message: str) -> str:
    # "Invalid value: {...huge dump...}: field is immutable" -> "field is immutable"
    if message.startswith("Invalid value:") and ": " in message[15:]:
        return message.rsplit(": ", 1)[-1]
    return message


def _what(details: dict[str, Any]) -> str:
    kind, name = details.get("kind"), details.get("name")
    return f"{kind} {name}: " if kind and name else ""


def _causes(details: dict[str, Any], reason: str) -> bool:
    return any(
        isinstance(c, dict) and c.get("reason") == reason for c in details.get("causes") or []
    )


def _short(text: str) -> str:
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"


def _body_text(error: ApiException) -> str:
    body: object = error.body
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace").strip()
    return body.strip() if isinstance(body, str) else ""


def _retry_after(error: ApiException) -> float:
    headers: Any = error.headers or {}
    try:
        return min(60.0, max(0.0, float(headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0
