"""The Secrets a step makes for itself: its composed env values and its image pull credentials.

Both are immutable and named with the deployment number: a new value is a new Secret, so an
older deployment keeps its own. The values arrive here only as `stringData` of a Secret.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from runway.config.model import Registry


def secret(name: str, namespace: str, labels: dict[str, str], **body: Any) -> dict[str, Any]:
    """An immutable Secret."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "immutable": True,
        **body,
    }


def env_secret(
    name: str, namespace: str, labels: dict[str, str], values: dict[str, str]
) -> dict[str, Any]:
    """The env values of a service that interpolate a secret input, keyed by variable name."""
    return secret(name, namespace, labels, type="Opaque", stringData=dict(values))


def pull_secret(
    name: str,
    namespace: str,
    labels: dict[str, str],
    registry: Registry,
    username: str,
    password: str,
) -> dict[str, Any]:
    """A `kubernetes.io/dockerconfigjson` Secret with the credentials of one registry."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    config = {"auths": {registry.host: {"username": username, "password": password, "auth": auth}}}
    return secret(
        name,
        namespace,
        labels,
        type="kubernetes.io/dockerconfigjson",
        stringData={".dockerconfigjson": json.dumps(config, sort_keys=True)},
    )
