"""First setup, logging in (with device tokens), personal tokens and invites."""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.auth import (
    AuthError,
    Device,
    DeviceSigner,
    InviteSigner,
    new_nonce,
    new_token,
    nonce_hash,
    token_hash,
)
from runway.auth.passwords import MAX_LENGTH
from runway.http.context import Context, context
from runway.http.errors import ApiError, not_found
from runway.http.requests import Fields, address, admin, caller, json_body, new_account, path_id
from runway.http.views import iso, token_view, user_view
from runway.store import AlreadyExists
from runway.store.records import Role, TokenKind, User

_MAX_INVITE_DAYS = 30


async def setup(request: Request) -> Response:
    """The first admin, with the one-time setup token; 409 once anyone exists."""
    ctx = context(request)
    fields = Fields(await json_body(request), ("setup_token", "username", "password"))
    setup_token = fields.text("setup_token", limit=256)
    username, password = new_account(fields)
    fields.done()
    if await ctx.store.users.count():
        raise _already_set_up()
    if not await ctx.store.credentials.setup_token_matches(token_hash(setup_token), ctx.now()):
        raise _wrong_setup_token()
    hashed = await ctx.password_work(ctx.settings.hasher.hash, password)
    user = await ctx.store.users.create_first_admin(
        username, hashed, token_hash(setup_token), ctx.now()
    )
    if user is None:
        if await ctx.store.users.count():
            raise _already_set_up()
        raise _wrong_setup_token()
    return await _logged_in(ctx, user, status=201)


def _wrong_setup_token() -> ApiError:
    return ApiError(
        401,
        "invalid_setup_token",
        "the setup token is wrong or expired; the server printed it when it started, and "
        "`runway setup --new-token` makes a new one",
    )


def _already_set_up() -> ApiError:
    return ApiError(409, "already_set_up", "runway is already set up; log in instead")


async def _logged_in(
    ctx: Context, user: User, status: int = 201, *, device: str | None = None
) -> JSONResponse:
    """A new session token for `user`, shown this once (with a new device token, when given)."""
    token = new_token()
    expires = ctx.now() + ctx.settings.session_lifetime
    await ctx.store.credentials.create_token(
        user.id, TokenKind.SESSION, "login", token_hash(token), expires
    )
    body = {"token": token, "expires_at": iso(expires), "user": user_view(user)}
    if device is not None:
        body["device"] = device
    return JSONResponse(body, status_code=status)


async def login(request: Request) -> Response:
    """`POST /api/v1/sessions`: a session token for a user name and password, and a new device
    token (`device`), which the next login of this client sends back (`device`) to skip the
    pause that others' guesses put on the user."""
    fields = Fields(await json_body(request), ("username", "password", "device"))
    username = fields.text("username", limit=64)
    password = fields.text("password", limit=MAX_LENGTH)
    device = fields.optional_text("device")
    fields.done()
    user, new_device = await check_login(request, username, password, device)
    return await _logged_in(context(request), user, device=new_device)


async def check_login(
    request: Request, username: str, password: str, device_token: str | None = None
) -> tuple[User, str]:
    """The user whose name and password these are, within the login limits (the API's login
    and the browser's login page share it), and a new device token for the client's next
    login; ApiError 429, or 401 saying why, otherwise.

    A valid device token of this user (`device_token`, from an earlier login) skips the user's
    pause while that device has not failed too often itself (LoginLimits); any other token is
    ignored, and the attempt counted as one without it."""
    ctx = context(request)
    credentials = ctx.store.credentials
    now = ctx.now()
    user = await ctx.store.users.by_name(username)
    hashed = await ctx.store.users.password_hash(user.id) if user else None
    signer = await _device_signer(ctx)
    device = _device(signer, device_token, user, hashed)
    keys, trusted = await _count_attempt(ctx, request, username, device, now)
    hasher = ctx.settings.hasher
    if hashed is None:
        # As slow as a real check: the answer's timing must not tell which users exist.
        await ctx.password_work(hasher.dummy_verify, password)
        valid = False
    else:
        valid = await ctx.password_work(hasher.verify, hashed, password)
    if not valid or user is None or hashed is None:
        raise ApiError(401, "invalid_credentials", "wrong user name or password")
    await credentials.forget_attempt(keys, now)
    if device is not None:
        await credentials.clear_failures(device.key)
    if not trusted:
        # Not after a trusted device's login: the others' failures stay counted, or each login
        # of the person would give whoever is guessing a fresh allowance.
        await credentials.clear_failures(_user_key(username))
    if user.disabled:
        raise ApiError(401, "disabled", "this account is disabled; ask an admin")
    return user, signer.issue(user.id, user.name, hashed)


async def _count_attempt(
    ctx: Context, request: Request, username: str, device: Device | None, now: datetime
) -> tuple[tuple[str, ...], bool]:
    """Count the attempt under the address, and under the device while it is trusted, else the
    user; the keys it is counted under, and whether the device was trusted. Counted before the
    password is checked, so a burst of guesses sent at once is counted too; ApiError 429 (the
    attempt forgotten: no guess was made) when a limit is reached."""
    limits, credentials = ctx.settings.login_limits, ctx.store.credentials
    since = now - limits.window
    user_key, address_key = _user_key(username), f"addr:{address(request)}"
    trusted = False
    if device is None:
        keys: tuple[str, ...] = (user_key, address_key)
        by_user, by_address = await credentials.attempt(keys, now, since)
        wait = max(limits.user_wait(by_user, now), limits.address_wait(by_address, now))
    else:
        keys = (device.key, address_key)
        by_device, by_address = await credentials.attempt(keys, now, since)
        wait = limits.address_wait(by_address, now)
        trusted = limits.device_trusted(by_device, now)
        if not trusted:
            (by_user,) = await credentials.attempt((user_key,), now, since)
            keys = (*keys, user_key)
            wait = max(wait, limits.user_wait(by_user, now))
    if wait:
        await credentials.forget_attempt(keys, now)
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many failed logins; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )
    return keys, trusted


def _user_key(username: str) -> str:
    return f"user:{username}"


def _device(
    signer: DeviceSigner, token: str | None, user: User | None, password_hash: str | None
) -> Device | None:
    """The device of a valid token issued to this very account (its id and name) while it had
    the password it has now, else None. The token is read whether the user exists or not: the
    time it takes tells nothing."""
    if not token:
        return None
    found = signer.read(token)
    if found is None or user is None or password_hash is None:
        return None
    return found if signer.holds(found, user.id, user.name, password_hash) else None


async def _device_signer(ctx: Context) -> DeviceSigner:
    key = await ctx.store.credentials.signing_key()  # read once per instance, then kept
    return DeviceSigner(key, ctx.settings.login_limits.device_lifetime)


async def list_tokens(request: Request) -> Response:
    who = await caller(request)
    tokens = await context(request).store.credentials.tokens(who.user.id)
    return JSONResponse({"items": [token_view(t) for t in tokens], "next_cursor": None})


async def create_token(request: Request) -> Response:
    """A personal API token, shown once."""
    who = await caller(request)
    ctx = context(request)
    fields = Fields(await json_body(request), ("name", "expires_in_days"))
    name = fields.text("name", limit=100)
    days = fields.integer("expires_in_days", 1, 3650)
    fields.done()
    lifetime = timedelta(days=days) if days else ctx.settings.api_token_lifetime
    token = new_token()
    record = await ctx.store.credentials.create_token(
        who.user.id, TokenKind.API, name, token_hash(token), ctx.now() + lifetime
    )
    return JSONResponse({**token_view(record), "token": token}, status_code=201)


async def revoke_token(request: Request) -> Response:
    who = await caller(request)
    token_id = path_id(request)
    ctx = context(request)
    if token_id is None or not await ctx.store.credentials.revoke_token(
        who.user.id, token_id, ctx.now()
    ):
        raise not_found(f"token {request.path_params['id']}")
    return Response(status_code=204)


async def create_invite(request: Request) -> Response:
    """An admin invites a person: a signed, expiring, single-use link."""
    who = await admin(request)
    ctx = context(request)
    fields = Fields(await json_body(request), ("role", "expires_in_days"))
    role = fields.choice("role", tuple(r.value for r in Role)) or Role.MEMBER.value
    days = fields.integer("expires_in_days", 1, _MAX_INVITE_DAYS)
    fields.done()
    now = ctx.now()
    expires = now + (timedelta(days=days) if days else ctx.settings.invite_lifetime)
    nonce = new_nonce()
    invite = await ctx.store.credentials.create_invite(
        nonce_hash(nonce), Role(role), who.user.id, now, expires
    )
    token = (await _signer(ctx)).issue(invite.id, nonce)
    url = f"{ctx.settings.public_url.rstrip('/')}/ui/invite/{token}"
    return JSONResponse(
        {"url": url, "token": token, "role": role, "expires_at": iso(expires)}, status_code=201
    )


async def accept_invite(request: Request) -> Response:
    """The invited person chooses a user name and password; the link then stops working."""
    ctx = context(request)
    fields = Fields(await json_body(request), ("username", "password"))
    username, password = new_account(fields)
    fields.done()
    user = await use_invite(request, request.path_params["token"], username, password)
    return await _logged_in(ctx, user)


async def use_invite(request: Request, token: str, username: str, password: str) -> User:
    """The account an invite's link creates (the API and the browser's invite page share it);
    ApiError 404 for a bad, used or expired invite, 409 for a taken name."""
    ctx = context(request)
    try:
        invite_id, nonce = (await _signer(ctx)).read(token, _MAX_INVITE_DAYS * 86400)
    except AuthError as error:
        raise ApiError(404, "invalid_invite", str(error)) from None
    hashed = await ctx.password_work(ctx.settings.hasher.hash, password)
    try:
        user = await ctx.store.credentials.use_invite(
            invite_id, nonce_hash(nonce), ctx.now(), username, hashed
        )
    except AlreadyExists:
        raise ApiError(409, "name_taken", f"the user name '{username}' is taken") from None
    if user is None:
        raise ApiError(404, "invalid_invite", "this invite was used already or has expired")
    return user


async def _signer(ctx: Context) -> InviteSigner:
    if ctx.signer is None:
        ctx.signer = InviteSigner(await ctx.store.credentials.signing_key())
    return ctx.signer


routes = [
    Route("/api/v1/setup", setup, methods=["POST"]),
    Route("/api/v1/sessions", login, methods=["POST"]),
    Route("/api/v1/tokens", list_tokens, methods=["GET"]),
    Route("/api/v1/tokens", create_token, methods=["POST"]),
    Route("/api/v1/tokens/{id}", revoke_token, methods=["DELETE"]),
    Route("/api/v1/invites", create_invite, methods=["POST"]),
    Route("/api/v1/invites/{token}", accept_invite, methods=["POST"]),
]
