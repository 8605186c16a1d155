"""Users: the admin's list, and each person's own account and SSH keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.auth import AuthError
from runway.auth.keys import parse_public_key
from runway.auth.passwords import MAX_LENGTH, check_password
from runway.config.units import QUOTA_KEYS, is_amount
from runway.http.context import context
from runway.http.errors import ApiError, not_found
from runway.http.requests import (
    Fields,
    admin,
    caller,
    json_body,
    new_account,
    page,
    path_id,
    storable,
)
from runway.http.views import key_view, user_view
from runway.store import AlreadyExists
from runway.store.records import Role, User


async def list_users(request: Request) -> Response:
    await admin(request)
    limit, cursor = page(request)
    users, next_cursor = await context(request).store.users.list(limit=limit, cursor=cursor)
    return JSONResponse({"items": [user_view(u) for u in users], "next_cursor": next_cursor})


async def create_user(request: Request) -> Response:
    await admin(request)
    ctx = context(request)
    fields = Fields(await json_body(request), ("username", "password", "role"))
    username, password = new_account(fields)
    role = fields.choice("role", tuple(r.value for r in Role)) or Role.MEMBER.value
    fields.done()
    hashed = await ctx.password_work(ctx.settings.hasher.hash, password)
    try:
        user = await ctx.store.users.create(username, hashed, Role(role))
    except AlreadyExists:
        raise ApiError(409, "name_taken", f"the user name '{username}' is taken") from None
    return JSONResponse(user_view(user), status_code=201, headers=_location(user))


def _location(user: User) -> dict[str, str]:
    return {"Location": f"/api/v1/users/{user.name}"}


async def update_user(request: Request) -> Response:
    """Disable or enable, change the role, set the quota."""
    who = await admin(request)
    ctx = context(request)
    target = await _named(request)
    fields = Fields(await json_body(request), ("disabled", "role", "quota"))
    disabled = fields.boolean("disabled")
    role = fields.choice("role", tuple(r.value for r in Role))
    quota = _quota(fields)
    fields.done()
    if target.id == who.user.id and (disabled or role == Role.MEMBER.value):
        raise ApiError(409, "self", "you cannot disable or demote yourself; ask another admin")
    updated = await ctx.store.users.update(
        target.id,
        disabled=disabled,
        role=Role(role) if role else None,
        quota=quota,
    )
    if updated is None:
        raise not_found(f"user '{target.name}'")
    return JSONResponse(user_view(updated))


def _quota(fields: Fields) -> dict[str, str] | None:
    value = fields.body.get("quota")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        fields.problem("quota", "must be an object of resource names to quantities (strings)")
        return None
    unknown = [key for key in value if key not in QUOTA_KEYS]
    if unknown:
        fields.problem("quota", f"unknown resources {unknown}; known: {', '.join(QUOTA_KEYS)}")
        return None
    wrong = [key for key, amount in value.items() if not is_amount(amount)]
    if wrong:
        fields.problem("quota", f"not quantities such as 4, 500m or 8Gi: {', '.join(wrong)}")
        return None
    return dict(value)


async def delete_user(request: Request) -> Response:
    who = await admin(request)
    target = await _named(request)
    if target.id == who.user.id:
        raise ApiError(409, "self", "you cannot delete yourself; ask another admin")
    await context(request).store.users.delete(target.id)
    return Response(status_code=204)


async def _named(request: Request) -> User:
    name = request.path_params["name"]
    user = await context(request).store.users.by_name(name) if storable(name) else None
    if user is None:
        raise not_found(f"user '{name}'")
    return user


async def me(request: Request) -> Response:
    who = await caller(request)
    return JSONResponse(user_view(who.user))


async def change_password(request: Request) -> Response:
    """A new password, given the current one; every other session of the user ends."""
    who = await caller(request)
    ctx = context(request)
    fields = Fields(await json_body(request), ("current_password", "password"))
    current = fields.text("current_password", limit=MAX_LENGTH)
    password = fields.text("password", limit=MAX_LENGTH)
    if password:
        try:
            check_password(password)
        except AuthError as error:
            fields.problem("password", str(error))
    fields.done()
    hasher = ctx.settings.hasher
    stored = await ctx.store.users.password_hash(who.user.id)
    if stored is None or not await ctx.password_work(hasher.verify, stored, current):
        raise ApiError(403, "wrong_password", "the current password is wrong")
    hashed = await ctx.password_work(hasher.hash, password)
    await ctx.store.users.set_password(who.user.id, hashed)
    await ctx.store.credentials.revoke_all(who.user.id, ctx.now(), keep=who.token.id)
    return JSONResponse(user_view(who.user))


async def list_keys(request: Request) -> Response:
    who = await caller(request)
    keys = await context(request).store.users.keys(who.user.id)
    return JSONResponse({"items": [key_view(k) for k in keys], "next_cursor": None})


async def add_key(request: Request) -> Response:
    """An SSH public key for the dashboard over SSH (`ssh-ed25519 AAAA... comment`)."""
    who = await caller(request)
    fields = Fields(await json_body(request), ("name", "public_key"))
    name = fields.text("name", limit=100)
    text = fields.text("public_key", limit=16384)
    fingerprint = ""
    if text:
        try:
            text, fingerprint = parse_public_key(text)
        except ValueError as error:
            fields.problem("public_key", str(error))
    fields.done()
    try:
        key = await context(request).store.users.add_key(who.user.id, name, text, fingerprint)
    except AlreadyExists:
        raise ApiError(409, "key_taken", "this key is registered already") from None
    return JSONResponse(key_view(key), status_code=201)


async def delete_key(request: Request) -> Response:
    who = await caller(request)
    key_id = path_id(request)
    if key_id is None or not await context(request).store.users.delete_key(who.user.id, key_id):
        raise not_found(f"key {request.path_params['id']}")
    return Response(status_code=204)


routes = [
    Route("/api/v1/users", list_users, methods=["GET"]),
    Route("/api/v1/users", create_user, methods=["POST"]),
    # `me` before `{name}`: the name `me` is reserved for this.
    Route("/api/v1/users/me", me, methods=["GET"]),
    Route("/api/v1/users/me", change_password, methods=["PATCH"]),
    Route("/api/v1/users/me/keys", list_keys, methods=["GET"]),
    Route("/api/v1/users/me/keys", add_key, methods=["POST"]),
    Route("/api/v1/users/me/keys/{id}", delete_key, methods=["DELETE"]),
    Route("/api/v1/users/{name}", update_user, methods=["PATCH"]),
    Route("/api/v1/users/{name}", delete_user, methods=["DELETE"]),
]
