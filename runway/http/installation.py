"""The installation's settings that admins change while runway runs: what each may be, and what
the server does with them.

- `public_url`: `http(s)://host[:port]` without a path (never null): monitor URLs, invite links,
  the dashboard's Origin check.
- `apps_domain`: a domain (`apps.example.org`) whose hosts an app may always claim, even when
  `allowed_domains` limits the others; null: none.
- `ingress_class`: an IngressClass's name; null: the cluster's default. For Ingresses applied
  from now on.
- `tls`: `{"issuer": NAME}` (a cert-manager ClusterIssuer) or `{"secret": NAME}` (a TLS Secret
  in every namespace); null: plain HTTP. For Ingresses applied from now on, and apps' URLs.
- `default_quota`: `{resource: quantity}` for owners without their own; null: runway's
  built-in one. For namespaces prepared from now on.
- `trusted_proxies`: `["10.0.0.0/8", ...]`, whose X-Forwarded-For is believed; null: none.

Where a value comes from (DESIGN.md leaves it to us): a flag of `runway serve` (or its `RUNWAY_*`
variable) gives the starting value, and a change of the flag is stored when a server starts
with it; an admin's PATCH is stored at once. The last change wins: an admin's change stays
through restarts until someone gives the flag another value. A setting nobody ever set takes
the server's start-up value (a flag left out: the default). Every instance reads the stored
settings again every REFRESH seconds; the one that took the PATCH applies it at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from runway.auth import parse_networks
from runway.config.units import QUOTA_KEYS, is_amount
from runway.deploy import RenderSettings
from runway.deploy.render_target import CertManagerTls, ExistingTls
from runway.http.context import Context
from runway.http.settings import Settings
from runway.store import InvalidHost, StoreError, normalise_host

log = logging.getLogger("runway.http")

REFRESH = 10.0
"""Seconds between two readings of the stored settings by each instance."""
MAX_PROXIES = 100
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_MAX = 253
Problems = list[tuple[str, str]]
"""(path, message) for every value that cannot be taken."""


def check(values: Mapping[str, Any]) -> tuple[dict[str, Any], Problems]:
    """The values as they are stored (normalised), and the problem of each one that is wrong.
    Only the names of runway.store.settings.NAMES are looked at."""
    clean: dict[str, Any] = {}
    problems: Problems = []
    for name, checker in _CHECKERS.items():
        if name in values:
            try:
                clean[name] = checker(values[name])
            except _Wrong as wrong:
                problems += [(name + where, message) for where, message in wrong.problems]
    return clean, problems


class _Wrong(Exception):
    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.problems: Problems = [(where, message)]


def _public_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2048:
        raise _Wrong("must be the URL people reach runway at, such as https://runway.example.org")
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise _Wrong(f"'{value}' is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Wrong(f"must start with http:// or https:// and name a host, not '{value}'")
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
        raise _Wrong("runway is served at the root of its host: no path, query or user")
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            host = normalise_host(host)
        except InvalidHost as error:
            raise _Wrong(str(error)) from None
    else:
        host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def _domain(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Wrong("must be a domain such as apps.example.org")
    try:
        return normalise_host(value)
    except InvalidHost as error:
        raise _Wrong(str(error)) from None


def _name(value: Any, what: str = "a Kubernetes object name") -> str:
    if not isinstance(value, str) or not _NAME.match(value) or len(value) > _NAME_MAX:
        raise _Wrong(f"must be {what}: lowercase letters, digits, '-' and '.'")
    return value


def _ingress_class(value: Any) -> str | None:
    return None if value is None else _name(value, "the name of an IngressClass")


def _tls(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) != 1 or not {"issuer", "secret"} >= set(value):
        raise _Wrong(
            'must be {"issuer": NAME} (a cert-manager ClusterIssuer), {"secret": NAME} (a TLS '
            "Secret in every namespace), or null for plain HTTP"
        )
    ((key, name),) = value.items()
    what = "a ClusterIssuer's name" if key == "issuer" else "a Secret's name"
    try:
        return {key: _name(name, what)}
    except _Wrong as wrong:
        raise _Wrong(str(wrong), f".{key}") from None


def _quota(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise _Wrong('must be an object of resource names to quantities, such as {"pods": "20"}')
    wrong = _Wrong("")
    wrong.problems = []
    for key, amount in value.items():
        if key not in QUOTA_KEYS:
            wrong.problems.append((f".{key}", f"unknown resource; known: {', '.join(QUOTA_KEYS)}"))
        elif not is_amount(amount):
            wrong.problems.append(
                (f".{key}", 'must be a quantity of zero or more such as "4", "500m" or "8Gi"')
            )
    if wrong.problems:
        raise wrong
    return {key: str(amount) for key, amount in value.items()}


def _proxies(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_PROXIES:
        raise _Wrong(f"must be a list of at most {MAX_PROXIES} addresses or networks (CIDR)")
    wrong = _Wrong("")
    wrong.problems = []
    found = []
    for index, item in enumerate(value):
        try:
            if not isinstance(item, str) or "," in item:
                raise ValueError(f"'{item}' is not an address or network (CIDR)")
            found += [str(network) for network in parse_networks(item)]
        except ValueError as error:
            wrong.problems.append((f"[{index}]", str(error)))
    if wrong.problems:
        raise wrong
    return sorted(set(found))


_CHECKERS = {
    "public_url": _public_url,
    "apps_domain": _domain,
    "ingress_class": _ingress_class,
    "tls": _tls,
    "default_quota": _quota,
    "trusted_proxies": _proxies,
}


def tls_of(value: Mapping[str, str] | None) -> CertManagerTls | ExistingTls | None:
    if not value:
        return None
    if "issuer" in value:
        return CertManagerTls(cluster_issuer=value["issuer"])
    return ExistingTls(secret_name=value["secret"])


def tls_view(tls: CertManagerTls | ExistingTls | None) -> dict[str, str] | None:
    if isinstance(tls, CertManagerTls):
        return {"issuer": tls.cluster_issuer}
    if isinstance(tls, ExistingTls):
        return {"secret": tls.secret_name}
    return None


def effective(start: Settings, stored: Mapping[str, Any]) -> Settings:
    """The server's settings: those it started with, each stored setting in its place."""
    settings = start
    if stored.get("public_url"):
        settings = replace(settings, public_url=stored["public_url"])
    if "trusted_proxies" in stored:
        networks = parse_networks(",".join(stored["trusted_proxies"] or ()))
        settings = replace(settings, trusted_proxies=networks)
    render: RenderSettings = settings.render
    if "ingress_class" in stored:
        render = replace(render, ingress_class=stored["ingress_class"])
    if "tls" in stored:
        render = replace(render, tls=tls_of(stored["tls"]))
    environments = settings.environments
    if "default_quota" in stored:
        quota = stored["default_quota"] or type(environments)().default_quota
        environments = replace(environments, default_quota=dict(quota))
    return replace(settings, render=render, environments=environments)


def view(settings: Settings, stored: Mapping[str, Any], allowed: list[str]) -> dict[str, Any]:
    """What GET and PATCH /api/v1/settings answer: every setting as it applies now."""
    return {
        "allowed_domains": allowed,
        "public_url": settings.public_url,
        "apps_domain": _domain_or_none(stored.get("apps_domain")),
        "ingress_class": settings.render.ingress_class,
        "tls": tls_view(settings.render.tls),
        "default_quota": dict(settings.environments.default_quota),
        "trusted_proxies": [str(network) for network in settings.trusted_proxies],
    }


def _domain_or_none(value: Any) -> str | None:
    try:
        return _domain(value)
    except _Wrong:
        return None


def apply(ctx: Context, start: Settings, stored: Mapping[str, Any]) -> None:
    """Make the stored settings this instance's: the API's, and the executor's for the
    deployments it starts or takes over from now on. A stored value that is not one (changed
    by hand in the database) is left out, and said in the log."""
    clean, problems = check(stored)
    for path, message in problems:
        log.warning("the stored installation setting %s is ignored: %s", path, message)
    ctx.settings = effective(start, clean)
    if ctx.executor is not None:
        ctx.executor.settings = ctx.settings.render


async def refresh(ctx: Context, start: Settings) -> None:
    """Read the stored settings and apply them; a database that does not answer is logged,
    and the settings stay as they were."""
    try:
        apply(ctx, start, await ctx.store.settings.read())
    except (StoreError, ValueError, OSError) as error:
        log.warning("could not read the installation's settings: %s", error)


async def keep_applied(ctx: Context, start: Settings) -> None:
    """`refresh` every REFRESH seconds (another instance may have taken a PATCH), until
    cancelled."""
    while True:
        await asyncio.sleep(REFRESH)
        await refresh(ctx, start)
