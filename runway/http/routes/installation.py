"""The installation's settings, for admins: the domains Ingress hosts may be under."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.config.fields import HOST_MAX
from runway.http.context import context
from runway.http.requests import Fields, admin, json_body, storable
from runway.store import InvalidHost, normalise_host
from runway.store.hosts import MAX_ALLOWED_DOMAINS


def settings_view(allowed_domains: list[str]) -> dict[str, Any]:
    return {"allowed_domains": allowed_domains}


async def get_settings(request: Request) -> Response:
    await admin(request)
    return JSONResponse(settings_view(await context(request).store.hosts.allowed_domains()))


async def update_settings(request: Request) -> Response:
    """Change what is given: `allowed_domains` replaces the list (`[]`: any host). Hosts already
    claimed stay claimed; new claims must be under the new domains."""
    await admin(request)
    hosts = context(request).store.hosts
    fields = Fields(await json_body(request), ("allowed_domains",))
    domains = _domains(fields)
    fields.done()
    if domains is None:
        return JSONResponse(settings_view(await hosts.allowed_domains()))
    return JSONResponse(settings_view(await hosts.set_allowed_domains(domains)))


def _domains(fields: Fields) -> list[str] | None:
    """The domains of the body, checked one by one (every problem recorded in `fields`)."""
    value = fields.body.get("allowed_domains")
    if value is None:
        return None
    if not isinstance(value, list):
        fields.problem("allowed_domains", "must be a list of domains such as example.org")
        return None
    if len(value) > MAX_ALLOWED_DOMAINS:
        fields.problem("allowed_domains", f"must list at most {MAX_ALLOWED_DOMAINS} domains")
        return None
    domains = []
    for index, item in enumerate(value):
        where = f"allowed_domains[{index}]"
        if not isinstance(item, str) or not storable(item) or len(item) > HOST_MAX + 1:
            fields.problem(
                where,
                f"must be a domain such as example.org, of at most {HOST_MAX} characters",
            )
            continue
        try:
            domains.append(normalise_host(item))
        except InvalidHost as error:
            fields.problem(where, str(error))
    return domains


routes = [
    Route("/api/v1/settings", get_settings, methods=["GET"]),
    Route("/api/v1/settings", update_settings, methods=["PATCH"]),
]
