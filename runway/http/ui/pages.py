"""The browser's pages: logging in and out, accepting an invite, and the dashboard's page
(`/ui/`, and `/ui/deployments/{id}`, the monitor URL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from runway.auth import AuthError, check_username
from runway.auth.passwords import check_password
from runway.http.context import context
from runway.http.errors import ApiError
from runway.http.requests import body_bytes
from runway.http.routes.accounts import check_login, use_invite
from runway.http.ui import browser, html
from runway.http.ui.processes import Processes

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    # Not no-referrer: Chromium then sends `Origin: null` with the forms, which are refused.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def _csp(websocket_origin: str) -> str:
    # textual.js (xterm) adds style elements; every script and asset comes from this host, but
    # the dashboard page's own script (opening its websocket early), allowed by its hash.
    return (
        f"default-src 'self'; script-src 'self' '{html.OPENING_HASH}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"connect-src 'self' {websocket_origin}; frame-ancestors 'none'; form-action 'self'"
    )


def _page(text: str, status: int = 200, *, websocket_origin: str = "") -> HTMLResponse:
    headers = {**_HEADERS, "Content-Security-Policy": _csp(websocket_origin)}
    return HTMLResponse(text, status_code=status, headers=headers)


def _next(value: str) -> str:
    """Where to go after logging in: a path of the dashboard only (no open redirect)."""
    if value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/"


async def _form(request: Request) -> dict[str, str]:
    """A form's fields (URL-encoded, within the body limit); the first value of each."""
    body = (await body_bytes(request)).decode("utf-8", "replace")
    return {name: values[0] for name, values in parse_qs(body).items()}


def _refused_origin(request: Request) -> Response | None:
    """A form posted from another origin is refused (login CSRF): browsers send `Origin`."""
    if browser.same_origin(context(request), request):
        return None
    return _page("<p>This form must be sent from runway's own page.</p>", 403)


def _login_page(next_path: str, problem: str = "", status: int = 200) -> HTMLResponse:
    return _page(
        html.form(
            "Log in to runway",
            "/ui/login",
            [("username", "User name", "text"), ("password", "Password", "password")],
            "Log in",
            problem,
            {"next": next_path},
        ),
        status,
    )


def login_page(processes: Processes) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        """The login form; someone may open a dashboard soon: the pool starts its children."""
        processes.warm(context(request).settings.public_url)
        return _login_page(_next(request.query_params.get("next", "")))

    return endpoint


def login(processes: Processes) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        """Check the name and password (the API's limits and timing, with the browser's device
        cookie), then start a browser session, give the browser a new device cookie, and go
        where the person was headed (a dashboard: the pool gets ready)."""
        refused = _refused_origin(request)
        if refused is not None:
            return refused
        fields = await _form(request)
        next_path = _next(fields.get("next", ""))
        try:
            user, device = await check_login(
                request,
                fields.get("username", "")[:64],
                fields.get("password", "")[:1024],
                browser.device(request),
            )
        except ApiError as error:
            return _login_page(next_path, error.message, error.status)
        response = RedirectResponse(next_path, status_code=303)
        ctx = context(request)
        await browser.start(ctx, user, response)
        browser.remember_device(ctx, device, response)
        processes.warm(ctx.settings.public_url)
        return response

    return endpoint


def logout(processes: Processes) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        """End the browser session here and now, and the dashboards it runs on this server."""
        refused = _refused_origin(request)
        if refused is not None:
            return refused
        ctx = context(request)
        response = RedirectResponse("/ui/login", status_code=303)
        session = await browser.current(ctx, request)
        if session is not None:
            await browser.end(ctx, session, response)
            processes.end_session(session.token.id)
        return response

    return endpoint


def dashboard(processes: Processes) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        """The dashboard's page; to the login page first without a session."""
        ctx = context(request)
        session = await browser.current(ctx, request)
        if session is None:
            return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)
        deployment = request.path_params.get("id")
        path = "/ui/ws" if deployment is None else f"/ui/ws/{int(deployment)}"
        public = ctx.settings.public_url
        processes.warm(public)  # its websocket comes next
        websocket = browser.websocket_url(public, path)
        return _page(
            html.app_page(session.user.name, websocket),
            websocket_origin=browser.websocket_url(public, ""),
        )

    return endpoint


def _invite_page(token: str, problem: str = "", status: int = 200) -> HTMLResponse:
    return _page(
        html.form(
            "Join runway",
            f"/ui/invite/{quote(token)}",
            [
                ("username", "Choose a user name", "text"),
                ("password", "Choose a password", "password"),
                ("again", "The password again", "password"),
            ],
            "Create my account",
            problem,
        ),
        status,
    )


async def invite_page(request: Request) -> Response:
    return _invite_page(request.path_params["token"])


async def accept_invite(request: Request) -> Response:
    """Create the invited person's account, log them in, and open the dashboard."""
    refused = _refused_origin(request)
    if refused is not None:
        return refused
    token = request.path_params["token"]
    fields = await _form(request)
    username, password = fields.get("username", ""), fields.get("password", "")
    if password != fields.get("again", ""):
        return _invite_page(token, "the two passwords differ", 422)
    try:
        check_username(username)
        check_password(password)
    except AuthError as error:
        return _invite_page(token, str(error), 422)
    try:
        user = await use_invite(request, token, username, password)
    except ApiError as error:
        return _invite_page(token, error.message, error.status)
    response = RedirectResponse("/ui/", status_code=303)
    await browser.start(context(request), user, response)
    return response
