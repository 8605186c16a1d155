"""Reading requests: who is calling, bodies within limits, fields of the right types, pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from runway.auth import AuthError, check_username, client_address, token_hash
from runway.auth.passwords import MAX_LENGTH, check_password
from runway.http.context import context
from runway.http.errors import ApiError, invalid
from runway.store.pages import MAX_ID
from runway.store.records import Token, TokenKind, User

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    token: Token


async def caller(request: Request) -> Caller:
    """The user behind the request's bearer token; 401 without a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send a bearer token: Authorization: Bearer TOKEN (runway login gets one)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    ctx = context(request)
    found = await ctx.store.credentials.authenticate(token_hash(token.strip()), ctx.now())
    # A browser session lives in its cookie only: /api/v1 takes no cookie's value as a bearer.
    if found is None or found[1].kind is TokenKind.BROWSER:
        raise ApiError(
            401,
            "unauthorized",
            "this token is not valid (expired, revoked, or its user is disabled); log in again",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Caller(*found)


async def admin(request: Request) -> Caller:
    """The caller, who must be an admin; others get 404 (they cannot learn what exists)."""
    who = await caller(request)
    if not who.user.is_admin:
        raise ApiError(404, "not_found", f"no such path: {request.url.path}")
    return who


def address(request: Request) -> str:
    """The client's address, through forwarding headers only from trusted proxies."""
    peer = request.client.host if request.client else None
    trusted = context(request).settings.trusted_proxies
    # Every X-Forwarded-For line: a proxy may add its own line after the client's.
    forwarded = ", ".join(request.headers.getlist("x-forwarded-for")) or None
    return client_address(peer, forwarded, trusted)


async def body_bytes(request: Request) -> bytes:
    """The request body, refused with 413 past the limit without reading it all."""
    limit = context(request).settings.max_body
    declared = request.headers.get("content-length")
    if declared is not None and _decimal(declared) and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the request body is over the limit of {limit // 1024} KiB")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media_type(request: Request, accepted: tuple[str, ...]) -> str:
    found = media_type(request)
    if found not in accepted:
        shown = found or "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {shown} is not accepted here; send {' or '.join(accepted)}",
        )
    return found


async def json_body(request: Request) -> dict[str, Any]:
    """A JSON object body (415 for another type, 400 when it is not JSON, 422 not an object)."""
    require_media_type(request, JSON_TYPES)
    raw = await body_bytes(request)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_request", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise invalid("the body must be a JSON object")
    return value


class Fields:
    """Typed reading of a JSON object's fields, collecting every problem before refusing."""

    def __init__(self, body: dict[str, Any], allowed: tuple[str, ...]) -> None:
        self.body = body
        self.problems: list[dict[str, Any]] = [
            {"path": key, "message": f"unknown field '{key}'"} for key in body if key not in allowed
        ]

    def text(self, name: str, *, limit: int = 1024) -> str:
        """A required string; "" when it is missing or wrong (done() then refuses the request)."""
        if self.body.get(name) is None:
            self.problems.append({"path": name, "message": "is required"})
            return ""
        value = self.optional_text(name, limit=limit)
        if value == "":
            self.problems.append({"path": name, "message": "must not be empty"})
        return value or ""

    def optional_text(self, name: str, *, limit: int = 1024) -> str | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problems.append({"path": name, "message": "must be a string"})
            return None
        if not storable(value):
            self.problems.append({"path": name, "message": "must be text without NUL characters"})
            return None
        if len(value) > limit:
            self.problems.append({"path": name, "message": f"must be at most {limit} characters"})
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problems.append({"path": name, "message": "must be true or false"})
            return None
        return value

    def integer(self, name: str, minimum: int, maximum: int) -> int | None:
        value = self.body.get(name)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 30.0 is 30, as JSON Schema counts it
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
            self.problems.append(
                {"path": name, "message": f"must be an integer from {minimum} to {maximum}"}
            )
            return None
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.optional_text(name)
        if value is not None and value not in choices:
            self.problems.append({"path": name, "message": f"must be one of {', '.join(choices)}"})
            return None
        return value

    def problem(self, name: str, message: str) -> None:
        self.problems.append({"path": name, "message": message})

    def done(self) -> None:
        """Refuse with 422 listing every problem, if there is any."""
        if self.problems:
            raise invalid("the request has invalid fields", self.problems)


def storable(text: str) -> bool:
    """Text the databases can keep: Postgres refuses NUL, and a lone surrogate (JSON allows
    `\\ud800`) is not UTF-8 at all."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decimal(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also takes superscripts and other scripts' digits."""
    return text.isascii() and text.isdigit()


def path_id(request: Request, name: str = "id") -> int | None:
    """A numeric id from the path, or None when it cannot be one (letters, or past 64 bits)."""
    raw: str = request.path_params[name]
    if not _decimal(raw) or len(raw) > 10 or int(raw) > _ID_MAX:
        return None
    return int(raw)


_ID_MAX = MAX_ID


def page(request: Request) -> tuple[int, str | None]:
    """`?limit=&cursor=` (limit 1-200, default 50)."""
    raw = request.query_params.get("limit", "50")
    if not _decimal(raw) or not 1 <= int(raw) <= 200:
        raise invalid("limit must be an integer from 1 to 200")
    return int(raw), request.query_params.get("cursor") or None


def new_account(fields: Fields) -> tuple[str, str]:
    """A new user name and password from a request, their problems recorded in `fields`."""
    username = fields.text("username", limit=64)
    password = fields.text("password", limit=MAX_LENGTH)
    for name, value, check in (
        ("username", username, check_username),
        ("password", password, check_password),
    ):
        if not value:
            continue
        try:
            check(value)
        except AuthError as error:
            fields.problem(name, str(error))
    return username, password
