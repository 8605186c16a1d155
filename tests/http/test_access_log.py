"""The access log says who asked for what, without the secrets some paths carry."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from runway.http.access import AccessLog, loggable

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_invite_secrets_are_replaced():
    assert loggable("/api/v1/invites/WzEsImFiYyJd.Zz.sig") == "/api/v1/invites/…"
    assert loggable("/ui/invite/WzEsImFiYyJd.Zz.sig") == "/ui/invite/…"
    assert loggable("/api/v1/invites") == "/api/v1/invites"
    assert loggable("/api/v1/deployments/7") == "/api/v1/deployments/7"


async def test_each_request_is_logged_once_without_the_secret(caplog):
    async def ok(request):
        return PlainTextResponse("ok", status_code=409)

    app = AccessLog(Starlette(routes=[Route("/api/v1/invites/{token}", ok, methods=["POST"])]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        with caplog.at_level(logging.INFO, logger="runway.access"):
            await c.post("/api/v1/invites/the-secret-token")
    [record] = [r for r in caplog.records if r.name == "runway.access"]
    assert "the-secret-token" not in record.getMessage()
    assert '"POST /api/v1/invites/…" 409' in record.getMessage()
