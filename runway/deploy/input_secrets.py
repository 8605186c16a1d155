"""Storing a secret input's answer: one immutable Kubernetes Secret per value and version.

DESIGN.md: secret inputs live only in Kubernetes Secrets; runway's database keeps the Secret's
name and key (the `SecretRef` returned here), never the value. Secrets are immutable and
versioned (`<app>-<input>-<version>`), so an older deployment can be restored with its own
values, and a new value is a new version.

The value itself goes to the cluster in the Secret's `data` and nowhere else: not into an
exception message (a cluster's refusal is scrubbed of it before it is raised), not into a log
line (this module logs nothing).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from runway.deploy.apply import RETRY, Retry, retrying
from runway.deploy.connection import Cluster
from runway.deploy.errors import DeployError, PermanentError
from runway.deploy.names import input_secret_name
from runway.deploy.render_target import SecretRef
from runway.deploy.render_workloads import MANAGED_BY

KEY = "value"
"""The key of the one value a secret input's Secret holds."""
INPUT_LABEL = "runway.dev/input"
VERSION_LABEL = "runway.dev/input-version"
HIDDEN = "[secret]"


def input_secret(
    namespace: str, environment: str, app: str, input_name: str, version: int, value: str
) -> dict[str, Any]:
    """The immutable Secret holding one version of a secret input's value.

    Labelled with the app, the environment, runway as its manager, the input and the version
    (so pruning can find an app's input Secrets); the input's exact name is also an annotation,
    as a label value may not begin or end with the `_` an input name may."""
    labels = {
        **MANAGED_BY,
        "runway.dev/app": app,
        "runway.dev/environment": environment,
        INPUT_LABEL: input_name.strip("_"),
        VERSION_LABEL: str(version),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": input_secret_name(app, input_name, version),
            "namespace": namespace,
            "labels": labels,
            "annotations": {INPUT_LABEL: input_name},
        },
        "immutable": True,
        "type": "Opaque",
        "data": {KEY: _encoded(value)},
    }


async def store_secret_input(
    cluster: Cluster,
    namespace: str,
    environment: str,
    app: str,
    input_name: str,
    version: int,
    value: str,
    *,
    retry: Retry = RETRY,
) -> SecretRef:
    """Create the Secret `<app>-<input>-<version>` holding `value` in `namespace`; where the
    value now lives.

    Idempotent: when that Secret already holds the same value (a retried or resumed call), its
    reference is returned and nothing changes. PermanentError when it holds another value
    (Secrets are immutable: a new value needs a new version) or was not made by runway; the
    cluster's own errors as DeployError. No message ever contains the value."""
    if version < 1:
        raise ValueError(f"a secret input's version is a number from 1, not {version}")
    manifest = input_secret(namespace, environment, app, input_name, version, value)
    name = str(manifest["metadata"]["name"])
    ref = SecretRef(name, KEY)
    collection = f"/api/v1/namespaces/{namespace}/secrets"
    query = [("fieldManager", "runway"), ("fieldValidation", "Strict")]

    async def create() -> dict[str, Any]:
        return await cluster.request("POST", collection, query=query, body=manifest)

    async def read() -> dict[str, Any] | None:
        return await cluster.get(f"{collection}/{name}")

    try:
        await retrying(create, retry)
    except PermanentError as error:
        refused = _scrubbed(error, value)
    except DeployError as error:
        raise _scrubbed(error, value) from None
    else:
        return ref
    # Refused: most often because it exists already (a retried or resumed call whose first
    # try got through). Then it is fine if it holds the same value.
    try:
        existing = await retrying(read, retry)
    except DeployError as error:
        raise _scrubbed(error, value) from None
    if existing is None:
        raise refused
    _check_existing(existing, manifest, input_name, version)
    return ref


async def read_secret_input(cluster: Cluster, namespace: str, ref: SecretRef) -> str:
    """The value a secret input's Secret holds (for the moment a step composes it into a
    Secret of its own, or a person asks to see it); keep it in memory only as long as needed.

    NotFound when the Secret is gone; PermanentError when it was not made by runway or lacks
    the key (runway reads no Secret of anyone else's through a reference)."""
    path = f"/api/v1/namespaces/{namespace}/secrets/{ref.name}"
    found = await retrying(lambda: cluster.request("GET", path))
    labels = (found.get("metadata") or {}).get("labels") or {}
    if any(labels.get(key) != value for key, value in MANAGED_BY.items()):
        raise PermanentError(
            f"Secret {ref.name} was not made by runway (no app.kubernetes.io/managed-by=runway "
            "label): runway will not read it"
        )
    encoded = (found.get("data") or {}).get(ref.key)
    if not isinstance(encoded, str):
        raise PermanentError(f"Secret {ref.name} has no key '{ref.key}'")
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise PermanentError(
            f"the key '{ref.key}' of Secret {ref.name} is not base64-encoded UTF-8 text"
        ) from None


def _check_existing(
    existing: dict[str, Any], wanted: dict[str, Any], input_name: str, version: int
) -> None:
    """Accept a Secret of that name only if runway made it and it holds the same value."""
    meta = existing.get("metadata") or {}
    name = meta.get("name")
    labels = meta.get("labels") or {}
    if any(labels.get(key) != value for key, value in MANAGED_BY.items()):
        raise PermanentError(
            f"Secret {name} exists but was not made by runway (no "
            "app.kubernetes.io/managed-by=runway label): runway will not use it for "
            f"input '{input_name}'"
        )
    held = str((existing.get("data") or {}).get(KEY) or "")
    if not hmac.compare_digest(held.encode(), str(wanted["data"][KEY]).encode()):
        raise PermanentError(
            f"Secret {name} already holds another value for input '{input_name}' "
            f"(version {version}); Secrets are immutable: store the new value as a new version"
        )


def _scrubbed(error: DeployError, value: str) -> DeployError:
    """The error with the value (as written and base64-encoded) blotted out of its message."""
    message = error.message
    for form in sorted({value, _encoded(value)}, key=len, reverse=True):
        if form:
            message = message.replace(form, HIDDEN)
    error.message = message
    error.args = (message, *error.args[1:])
    return error


def _encoded(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")
