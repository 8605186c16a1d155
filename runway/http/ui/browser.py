"""The browser's session: a random token in an HttpOnly, SameSite=Strict cookie, its hash in
the tokens table (kind `browser`), so it expires, is revoked by logging out, and ends with its
user being disabled, on every instance at once; the device cookie, which outlives sessions
(runway.auth.devices); and the `Origin` check that comes with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from runway.auth import new_token, token_hash
from runway.http.context import Context
from runway.store.records import Token, TokenKind, User

COOKIE = "runway_session"
DEVICE_COOKIE = "runway_device"
LOGIN_PATH = "/ui/login"
LIFETIME = timedelta(hours=12)
"""A browser session lasts a working day: shorter than the CLI's, as a browser is shared more."""


@dataclass(frozen=True, slots=True)
class BrowserSession:
    user: User
    token: Token
    secret_hash: str
    """The cookie's hash, to check the session again while its app runs."""


async def start(ctx: Context, user: User, response: Response) -> None:
    """A new session for `user`, set as the response's cookie (`Secure` under https)."""
    secret = new_token()
    expires = ctx.now() + LIFETIME
    await ctx.store.credentials.create_token(
        user.id, TokenKind.BROWSER, "browser", token_hash(secret), expires
    )
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(LIFETIME.total_seconds()),
        path="/ui",
        secure=is_https(ctx.settings.public_url),
        httponly=True,
        samesite="strict",
    )


def remember_device(ctx: Context, token: str, response: Response) -> None:
    """Set the device token of a login as a cookie lasting as long as the token, sent only to
    the login page (the one page that reads it): logging out keeps it, so this browser's next
    login skips the user's pause."""
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=int(ctx.settings.login_limits.device_lifetime.total_seconds()),
        path=LOGIN_PATH,
        secure=is_https(ctx.settings.public_url),
        httponly=True,
        samesite="strict",
    )


def device(connection: HTTPConnection) -> str | None:
    """The device token the browser sent, unchecked (the login checks it)."""
    return connection.cookies.get(DEVICE_COOKIE) or None


async def current(ctx: Context, connection: HTTPConnection) -> BrowserSession | None:
    """The valid session of the request's cookie: None when missing, unknown, expired, revoked,
    or its user is disabled (checked on every use, so disabling someone ends their sessions)."""
    secret = connection.cookies.get(COOKIE, "")
    if not secret:
        return None
    hashed = token_hash(secret)
    found = await ctx.store.credentials.authenticate(hashed, ctx.now())
    if found is None or found[1].kind is not TokenKind.BROWSER:
        return None
    return BrowserSession(*found, secret_hash=hashed)


async def still_valid(ctx: Context, session: BrowserSession) -> bool:
    """Whether `session` is neither revoked nor expired, nor its user disabled, now."""
    return await ctx.store.credentials.authenticate(session.secret_hash, ctx.now()) is not None


async def end(ctx: Context, session: BrowserSession, response: Response) -> None:
    """Revoke the session and clear its cookie."""
    await ctx.store.credentials.revoke_token(session.user.id, session.token.id, ctx.now())
    response.delete_cookie(COOKIE, path="/ui", secure=is_https(ctx.settings.public_url))


def is_https(public_url: str) -> bool:
    return urlsplit(public_url).scheme == "https"


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, as browsers send it in `Origin`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(ctx: Context, connection: HTTPConnection) -> bool:
    """Whether the request's `Origin` is the public URL's; a missing one is not. SameSite alone
    is not enough: a page on another port of the same host is same-site and sends the cookie."""
    sent = connection.headers.get("origin")
    return sent is not None and sent.lower() == origin_of(ctx.settings.public_url)


def websocket_url(public_url: str, path: str) -> str:
    """The public URL's websocket twin (`ws://` or `wss://`) with `path`."""
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{path}"
