"""Certificates for `--tls` and the kubeconfig that points a client at a simulated cluster."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
import yaml

NAME = "runway-sim"  # cluster, context and user name: says it is the simulated cluster


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA, a server certificate signed by it, and the bearer token clients send."""

    ca_pem: bytes
    server_pem: bytes  # the private key followed by the certificate chain
    token: str


def make_certificates(host: str) -> Certificates:
    ca = trustme.CA(organization_name="runway simulated cluster")
    names = dict.fromkeys(["127.0.0.1", "localhost", "::1", host])
    names.pop("0.0.0.0", None)
    names.pop("::", None)
    leaf = ca.issue_cert(*names)
    return Certificates(
        ca_pem=ca.cert_pem.bytes(),
        server_pem=leaf.private_key_and_cert_chain_pem.bytes(),
        token=secrets.token_urlsafe(32),
    )


def kubeconfig(url: str, certificates: Certificates | None) -> dict[str, Any]:
    """A kubeconfig for the simulated cluster: minimal over HTTP; CA and token over HTTPS."""
    cluster: dict[str, Any] = {"server": url}
    context: dict[str, Any] = {"cluster": NAME}
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "contexts": [{"name": NAME, "context": context}],
        "current-context": NAME,
    }
    if certificates is not None:
        cluster["certificate-authority-data"] = base64.b64encode(certificates.ca_pem).decode()
        context["user"] = NAME
        config["users"] = [{"name": NAME, "user": {"token": certificates.token}}]
    return config


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a file only its owner can read, atomically (readers never see half of it)."""
    target = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(data)
        Path(temporary).chmod(0o600)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def dump(config: dict[str, Any]) -> bytes:
    return yaml.safe_dump(config, sort_keys=False).encode()
