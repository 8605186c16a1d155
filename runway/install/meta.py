"""The names and labels every object of an installation shares."""

from __future__ import annotations

from typing import Any

from runway.install.options import InstallOptions

PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
INSTALLER = "runway-install"
"""Not `runway`: that label marks environments' namespaces and apps' objects, which runway
prunes and adopts; the installation's objects are the installer's."""
DATABASE_SECRET = "runway-database"
METRICS_SECRET = "runway-metrics"
"""Holds `token`, the bearer token `GET /metrics` wants (`runway serve --metrics-token`): the
public Ingress carries every path to runway, /metrics among them."""
POSTGRES = "runway-postgres"
POSTGRES_USER = "runway"
DATA_CLAIM = "data"
"""The StatefulSet's claim template."""
DATABASE_CLAIM = f"{DATA_CLAIM}-{POSTGRES}-0"
"""The PersistentVolumeClaim that holds runway's own database (the StatefulSet keeps it)."""
ENVIRONMENT_MANAGED_BY = "runway"
"""The managed-by value of environments' namespaces (runway.deploy.environment_objects)."""
HTTP_PORT = 8080
SSH_CONTAINER_PORT = 2222
SERVER_LABELS = {"app.kubernetes.io/name": "runway", "app.kubernetes.io/component": "server"}
POSTGRES_LABELS = {"app.kubernetes.io/name": "runway", "app.kubernetes.io/component": "database"}


def labels(options: InstallOptions, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {PART_OF: "runway", MANAGED_BY: INSTALLER, **(extra or {})}


def metadata(options: InstallOptions, name: str, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = options.namespace
    meta["labels"] = labels(options)
    return meta
