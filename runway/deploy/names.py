"""The names runway gives Kubernetes objects, fixed in advance from the app, the service and the
deployment number, so that resuming a deployment never duplicates anything (DESIGN.md)."""

from __future__ import annotations

NAME_MAX = 63
"""Deployments, Services, Jobs and the pods they name are DNS labels."""


def object_name(app: str, service: str) -> str:
    """A service's Deployment, Service and Ingress: `<app>-<service>`."""
    return f"{app}-{service}"


def volume_claim_name(app: str, service: str, volume: str) -> str:
    """The standalone PVC of one volume of a service: `<app>-<service>-<volume>`."""
    return f"{app}-{service}-{volume}"


def job_name(app: str, job: str, deployment: int) -> str:
    """A job's Job for one deployment: `<app>-<job>-<deployment>` (a Job's template is
    immutable, so every deployment runs its own)."""
    return f"{app}-{job}-{deployment}"


def input_secret_name(app: str, input_name: str, version: int) -> str:
    """The Secret holding one version of a secret input's value: `<app>-<input>-<version>`, with
    the input's `_` written `-` (a Secret's name is a DNS subdomain; input names have no `-`, so
    nothing else is written the same way)."""
    return f"{app}-{input_name.replace('_', '-')}-{version}"


def env_secret_name(app: str, service: str, digest: str) -> str:
    """The Secret of a service's env values that interpolate a secret input, named after a
    digest of what it holds (see render_values.fingerprint)."""
    return f"{app}-{service}-env-{digest}"


def registry_secret_name(app: str, service: str, digest: str) -> str:
    """The image pull Secret of a service's image, named after a digest of what it holds.

    One per step rather than one per app and deployment: two steps whose images come from
    different registries would otherwise render different contents under one immutable name
    (the second apply fails), or each would need the other's registry answers."""
    return f"{app}-{service}-registry-{digest}"


def tls_secret_name(app: str, service: str) -> str:
    """Where cert-manager keeps the certificate of a service's Ingress."""
    return f"{app}-{service}-tls"


def port_name(port: int) -> str:
    """A Service port's name (`p8080`): at most 15 characters, as Kubernetes requires."""
    return f"p{port}"
