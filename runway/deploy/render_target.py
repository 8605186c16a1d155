"""What rendering needs besides the plan: where it goes, the answers, and the installation's
settings; and the one error rendering raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runway.config.model import Answer


class RenderError(ValueError):
    """A step cannot be rendered: an answer or a Secret it needs is missing, the step is not one
    rendering knows, or a name would break a Kubernetes limit. The message names the input, the
    field or the limit. Permanent: rendering again with the same target fails the same way."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret input's value lives: the key `key` of the Kubernetes Secret `name`."""

    name: str
    key: str


@dataclass(frozen=True, slots=True)
class CertManagerTls:
    """Certificates issued by cert-manager's ClusterIssuer `cluster_issuer`, one per Ingress."""

    cluster_issuer: str


@dataclass(frozen=True, slots=True)
class ExistingTls:
    """One TLS Secret that already exists in every namespace (a wildcard certificate, say)."""

    secret_name: str


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """The installation's choices: ingress class, TLS (None: plain HTTP), storage class
    (None: the cluster's default) and the VolumeSnapshotClass preferred for restore points
    (None: the default class of each volume's driver)."""

    ingress_class: str | None = None
    tls: CertManagerTls | ExistingTls | None = None
    storage_class: str | None = None
    snapshot_class: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where and as what a step is rendered.

    `answers` holds the non-secret answers, defaults applied. `secrets` says, for each secret
    input, which Secret holds its value. `secret_values` holds the few values that must be
    composed into a new Secret (env values that interpolate a secret input, registry
    credentials); no object but a Secret ever receives one.
    """

    namespace: str
    environment: str
    deployment: int
    answers: Mapping[str, Answer] = field(default_factory=dict)
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    secret_values: Mapping[str, str] = field(default_factory=dict)
    settings: RenderSettings = field(default_factory=RenderSettings)
