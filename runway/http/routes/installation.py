"""The installation's settings, for admins: the domains Ingress hosts may be under, and the
settings of runway.http.installation (public URL, apps domain, ingress class, TLS, default
quota, trusted proxies)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.config.fields import HOST_MAX
from runway.http import installation
from runway.http.context import context
from runway.http.requests import Fields, admin, json_body, storable
from runway.http.settings import Settings
from runway.store import InvalidHost, normalise_host
from runway.store.hosts import MAX_ALLOWED_DOMAINS
from runway.store.settings import NAMES


async def _view(request: Request) -> dict[str, Any]:
    ctx = context(request)
    stored = await ctx.store.settings.read()
    installation.apply(ctx, _start(request), stored)
    return installation.view(ctx.settings, stored, await ctx.store.hosts.allowed_domains())


def _start(request: Request) -> Settings:
    """The settings the app was made with, before any stored one."""
    start = request.app.state.start_settings
    assert isinstance(start, Settings)
    return start


async def get_settings(request: Request) -> Response:
    await admin(request)
    return JSONResponse(await _view(request))


async def update_settings(request: Request) -> Response:
    """Change what is given, all or nothing (422 listing every problem): `allowed_domains`
    replaces the list (`[]`: any host; hosts already claimed stay claimed, new claims must be
    under the new domains); the others as runway.http.installation says, applied at once
    here and within seconds on every other instance."""
    await admin(request)
    ctx = context(request)
    fields = Fields(await json_body(request), ("allowed_domains", *NAMES))
    domains = _domains(fields)
    given = {name: fields.body[name] for name in NAMES if name in fields.body}
    if given.get("public_url", "") is None:
        fields.problem("public_url", "cannot be null: runway needs the URL people reach it at")
        del given["public_url"]
    values, problems = installation.check(given)
    for path, message in problems:
        fields.problem(path, message)
    fields.done()
    if values:
        await ctx.store.settings.write(values)
    if domains is not None:
        await ctx.store.hosts.set_allowed_domains(domains)
    return JSONResponse(await _view(request))


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
