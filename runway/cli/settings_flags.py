"""The flags of `runway serve` that give the installation's settings their starting values
(runway.http.installation says what each does, and why the last change wins), and the ones
that say how it is operated (`--log-format`, `--metrics-token`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from runway.cli.common import Namespace


def _env(name: str) -> str | None:
    return os.environ.get(f"RUNWAY_{name}") or None


def add_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--apps-domain",
        default=_env("APPS_DOMAIN"),
        metavar="DOMAIN",
        help="the domain apps' hosts go under (a wildcard DNS name to the ingress controller)",
    )
    add(
        "--ingress-class",
        default=_env("INGRESS_CLASS"),
        metavar="NAME",
        help="the IngressClass of apps' Ingresses (default: the cluster's default class)",
    )
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--cert-manager-issuer",
        default=_env("CERT_MANAGER_ISSUER"),
        metavar="NAME",
        help="apps' Ingresses get certificates from this cert-manager ClusterIssuer",
    )
    tls.add_argument(
        "--tls-secret",
        default=_env("TLS_SECRET"),
        metavar="NAME",
        help="apps' Ingresses use this TLS Secret (a wildcard certificate in every namespace)",
    )
    add(
        "--default-quota",
        default=_env("DEFAULT_QUOTA"),
        metavar="R=Q,...",
        help="the quota of owners without their own, e.g. requests.cpu=2,pods=20",
    )
    add(
        "--log-format",
        choices=("text", "json"),
        default=_env("LOG_FORMAT") or "text",
        help="text lines (default) or one JSON object per line",
    )
    add(
        "--metrics-token",
        default=_env("METRICS_TOKEN"),
        metavar="TOKEN",
        help="require this bearer token on /metrics (default: /metrics is open)",
    )


_FLAG_OF = {
    "public_url": "--public-url",
    "apps_domain": "--apps-domain",
    "ingress_class": "--ingress-class",
    "tls": "--cert-manager-issuer/--tls-secret",
    "default_quota": "--default-quota",
    "trusted_proxies": "--trusted-proxies",
}


def given(args: Namespace) -> dict[str, Any]:
    """The installation settings the flags (or their RUNWAY_* variables) give, checked as the
    API checks them; ValueError naming every flag that is wrong. A flag left out is absent."""
    raw: dict[str, Any] = {}
    if getattr(args, "public_url", None):
        raw["public_url"] = args.public_url
    if getattr(args, "trusted_proxies", None):
        raw["trusted_proxies"] = [part.strip() for part in args.trusted_proxies.split(",")]
        raw["trusted_proxies"] = [part for part in raw["trusted_proxies"] if part]
    if getattr(args, "apps_domain", None):
        raw["apps_domain"] = args.apps_domain
    if getattr(args, "ingress_class", None):
        raw["ingress_class"] = args.ingress_class
    if getattr(args, "cert_manager_issuer", None) and getattr(args, "tls_secret", None):
        raise ValueError("--cert-manager-issuer and --tls-secret: give one of them")
    if getattr(args, "cert_manager_issuer", None):
        raw["tls"] = {"issuer": args.cert_manager_issuer}
    elif getattr(args, "tls_secret", None):
        raw["tls"] = {"secret": args.tls_secret}
    # Loaded only when a server starts: `runway plan` must not wait for the server's modules.
    from runway.http import installation

    problems: list[str] = []
    if getattr(args, "default_quota", None):
        quota = {}
        for item in args.default_quota.split(","):
            key, equals, value = item.partition("=")
            if not equals:
                problems.append(f"--default-quota: expected RESOURCE=QUANTITY, got '{item}'")
            quota[key.strip()] = value.strip()
        raw["default_quota"] = quota
    values, wrong = installation.check(raw)
    problems += [f"{_FLAG_OF[path.split('.')[0].split('[')[0]]}: {path}: {m}" for path, m in wrong]
    if problems:
        raise ValueError("; ".join(problems))
    return values
