"""Talking to a runway server over HTTP: one method per call the clients need."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from runway.client.sse import Event, MalformedEvent, parse_events

SILENCE = 45.0
"""Seconds without a byte (the server pings every 15) before an event stream counts as lost."""
RECONNECTS = 5
"""Resumptions of an event stream in a row, without an event between them, before giving up."""
BACKOFF = 0.5
"""Seconds before the first resumption; doubled each time after (at most 10)."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one verifying TLS context of this process's clients (httpx's default: certifi's CAs,
    `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured). Building one reads the whole CA bundle, tens of
    milliseconds of CPU, which every new client (a login, a new token) would spend again; the
    browser dashboard's waiting processes build it before anyone is assigned to them."""
    return httpx.create_ssl_context()


class ClientError(Exception):
    """The server refused (`status` >= 400, with its error code and message) or could not be
    reached (`status` 0)."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


def malformed(url: str, what: str) -> ClientError:
    """The error for an answer that is not what a runway server sends."""
    return ClientError(0, "malformed", f"{url} gave an unexpected answer to {what}: is it runway?")


class Client:
    """An async client of one runway server, optionally with a bearer token."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            transport=transport,
            timeout=timeout,
            verify=tls_context() if transport is None else True,
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        """The decoded JSON answer (None for 204); ClientError for a refusal or no answer."""
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            response = await self._http.request(
                method, path, json=json, content=content, headers=headers
            )
        except httpx.InvalidURL as error:
            raise ClientError(0, "invalid_url", f"{self.url} is not a URL: {error}") from None
        except httpx.HTTPError as error:
            raise ClientError(0, "unreachable", f"cannot reach {self.url}: {error}") from None
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise self._refusal(response.status_code, body)
        return body

    def _refusal(self, status: int, body: Any) -> ClientError:
        """The server's error object as a ClientError (its code, message and details)."""
        found = body.get("error") if isinstance(body, dict) else None
        if isinstance(found, dict):
            details = found.get("details")
            return ClientError(
                status,
                str(found.get("code", "error")),
                str(found.get("message", "")),
                [d for d in details if isinstance(d, dict)] if isinstance(details, list) else [],
            )
        return ClientError(status, "error", f"{self.url} answered {status}")

    async def _object(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """A call whose answer must be a JSON object; ClientError `malformed` otherwise (a proxy's
        page, another service on that port)."""
        found = await self.request(method, path, **options)
        if not isinstance(found, dict):
            raise malformed(self.url, f"{method} {path}")
        return found

    async def login(
        self, username: str, password: str, device: str | None = None
    ) -> dict[str, Any]:
        """A session (`token`, and `device`: the device token to send with the next login)."""
        body = {"username": username, "password": password}
        if device:
            body["device"] = device
        found: dict[str, Any] = await self.request("POST", "/api/v1/sessions", json=body)
        return found

    async def me(self) -> dict[str, Any]:
        found: dict[str, Any] = await self.request("GET", "/api/v1/users/me")
        return found

    async def change_password(self, current: str, new: str) -> None:
        await self.request(
            "PATCH", "/api/v1/users/me", json={"current_password": current, "password": new}
        )

    async def _items(self, path: str) -> list[dict[str, Any]]:
        """Every item of a listing, page after page (`items`, `next_cursor`)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            paged = path + (f"?cursor={quote(cursor)}" if cursor else "")
            listing = await self._object("GET", paged)
            items, cursor = listing.get("items"), listing.get("next_cursor")
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise malformed(self.url, f"GET {paged}")
            found += items
            if not isinstance(cursor, str) or not cursor:
                return found

    async def tokens(self) -> list[dict[str, Any]]:
        """The caller's tokens not revoked, sessions included (never their values)."""
        return await self._items("/api/v1/tokens")

    async def create_token(self, name: str, expires_in_days: int | None = None) -> dict[str, Any]:
        """A personal API token; the answer's `token` is its value, which no later call shows."""
        body: dict[str, Any] = {"name": name}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        return await self._object("POST", "/api/v1/tokens", json=body)

    async def revoke_token(self, token_id: int) -> None:
        await self.request("DELETE", f"/api/v1/tokens/{token_id}")

    async def keys(self) -> list[dict[str, Any]]:
        """The caller's SSH public keys, with their fingerprints."""
        return await self._items("/api/v1/users/me/keys")

    async def add_key(self, name: str, public_key: str) -> dict[str, Any]:
        """Register an SSH public key (`ssh-ed25519 AAAA... comment`); 422 when it is not one."""
        return await self._object(
            "POST", "/api/v1/users/me/keys", json={"name": name, "public_key": public_key}
        )

    async def delete_key(self, key_id: int) -> None:
        await self.request("DELETE", f"/api/v1/users/me/keys/{key_id}")

    async def users(self) -> list[dict[str, Any]]:
        """Admin: every user, page after page."""
        return await self._items("/api/v1/users")

    async def create_user(self, username: str, password: str, role: str) -> dict[str, Any]:
        """Admin: a new account; 422 for a bad name or password, 409 for a taken name."""
        return await self._object(
            "POST",
            "/api/v1/users",
            json={"username": username, "password": password, "role": role},
        )

    async def update_user(self, name: str, **changes: Any) -> dict[str, Any]:
        """Admin: `disabled`, `role` or `quota` (the whole quota: it replaces the old one)."""
        return await self._object("PATCH", f"/api/v1/users/{quote(name, safe='')}", json=changes)

    async def delete_user(self, name: str) -> None:
        await self.request("DELETE", f"/api/v1/users/{quote(name, safe='')}")

    async def create_invite(self, role: str, expires_in_days: int | None = None) -> dict[str, Any]:
        """Admin: a single-use link (`url`) that lets a person create their account."""
        body: dict[str, Any] = {"role": role}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        return await self._object("POST", "/api/v1/invites", json=body)

    async def installation_settings(self) -> dict[str, Any]:
        """Admin: the installation's settings, each by its name."""
        return await self._object("GET", "/api/v1/settings")

    async def update_installation_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Admin: change the settings given (the others stay); 422 names each bad one."""
        return await self._object("PATCH", "/api/v1/settings", json=changes)

    async def create_deployment(
        self, env: str, configuration: bytes, content_type: str
    ) -> dict[str, Any]:
        """Plan and store a configuration: the deployment object, `created`; 422 lists every
        problem of an invalid configuration with its path."""
        return await self._object(
            "POST",
            f"/api/v1/environments/{quote(env, safe='')}/deployments",
            content=configuration,
            content_type=content_type,
        )

    async def deployment(self, deployment_id: int) -> dict[str, Any]:
        """The deployment object (CONTRACT.md, Shapes) with its steps and questions."""
        return await self._object("GET", f"/api/v1/deployments/{deployment_id}")

    async def start_deployment(self, deployment_id: int) -> dict[str, Any]:
        """`created` -> `running`; 409 (ClientError) saying why when it cannot."""
        return await self._object("POST", f"/api/v1/deployments/{deployment_id}/start")

    async def cancel_deployment(self, deployment_id: int) -> dict[str, Any]:
        """The deployment once `cancelled`; 409 (ClientError) saying why when it cannot."""
        return await self._object("POST", f"/api/v1/deployments/{deployment_id}/cancel")

    async def rollback(self, deployment_id: int, confirm: str | None = None) -> dict[str, Any]:
        """Without `confirm`: the dry run of rolling the deployment back. With `confirm` (the
        environment's name): the rollback deployment, started. 409 (ClientError) says why a
        rollback is refused."""
        path = f"/api/v1/deployments/{deployment_id}/rollback"
        if confirm is None:
            return await self._object("POST", path)
        return await self._object("POST", path, json={"confirm": confirm})

    async def answer(self, deployment_id: int, answers: dict[str, Any]) -> dict[str, Any]:
        """Answers `{NAME: value}` (`{"generate": true}` for a generated secret); 422 lists
        every answer the server does not take, each at its input's name."""
        return await self._object(
            "POST", f"/api/v1/deployments/{deployment_id}/inputs", json=answers
        )

    async def environments(self) -> list[dict[str, Any]]:
        """The caller's environments, every page of them."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            path = "/api/v1/environments" + (f"?cursor={quote(cursor)}" if cursor else "")
            page = await self._object("GET", path)
            items, cursor = page.get("items"), page.get("next_cursor")
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise malformed(self.url, f"GET {path}")
            found += items
            if not isinstance(cursor, str) or not cursor:
                return found

    async def environment(self, name: str, owner: str | None = None) -> dict[str, Any]:
        """One environment with its apps, their services and latest deployments (`owner`:
        whose, for an admin looking at someone else's)."""
        path = f"/api/v1/environments/{quote(name, safe='')}"
        if owner is not None:
            path += f"?owner={quote(owner, safe='')}"
        return await self._object("GET", path)

    async def setup(self, setup_token: str, username: str, password: str) -> dict[str, Any]:
        """The first admin, with the server's one-time setup token: `{token, expires_at, user}`;
        409 `already_set_up` once anyone exists."""
        return await self._object(
            "POST",
            "/api/v1/setup",
            json={"setup_token": setup_token, "username": username, "password": password},
        )

    async def needs_setup(self) -> bool:
        """Whether the server has no user yet, as its `/healthz` says (`setup_needed`);
        ClientError 503 when its database does not answer, so that nobody can tell."""
        health = await self._object("GET", "/healthz")
        needed = health.get("setup_needed")
        if needed is None and "setup_needed" in health:
            raise ClientError(503, "not_ready", f"{self.url} cannot reach its database now")
        if not isinstance(needed, bool):
            raise malformed(self.url, "GET /healthz")
        return needed

    async def create_environment(self, name: str) -> dict[str, Any]:
        """A new environment of the caller; 409 when they already have one of that name."""
        return await self._object("POST", "/api/v1/environments", json={"name": name})

    async def update_environment(self, name: str, **settings: Any) -> dict[str, Any]:
        """Change an environment's settings (`on_failure="rollback"`)."""
        return await self._object(
            "PATCH", f"/api/v1/environments/{quote(name, safe='')}", json=settings
        )

    async def delete_environment(self, name: str) -> None:
        """Delete one of the caller's environments."""
        await self.request("DELETE", f"/api/v1/environments/{quote(name, safe='')}")

    async def deployments(self, env: str, limit: int = 50) -> list[dict[str, Any]]:
        """An environment's deployments, newest first (the first page of `limit`)."""
        path = f"/api/v1/environments/{quote(env, safe='')}/deployments?limit={limit}"
        items = (await self._object("GET", path)).get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise malformed(self.url, f"GET {path}")
        return items

    async def step_logs(self, deployment_id: int, step: str) -> AsyncGenerator[str, None]:
        """A step's container log lines, read once from the cluster."""
        path = f"/api/v1/deployments/{deployment_id}/steps/{quote(step, safe='')}/logs"
        try:
            async with self._stream(path, {}, self._timeout, "text/") as lines:
                async for line in lines:
                    yield line
        except httpx.TransportError as error:
            raise ClientError(
                0, "unreachable", f"cannot read logs from {self.url}: {error}"
            ) from None

    async def events(self, deployment_id: int, after: int = 0) -> AsyncGenerator[Event, None]:
        """The deployment's events after `after`, until the stream ends with the deployment
        final. A dropped connection (or a silent one: the server pings every 15 s) is resumed
        with `Last-Event-ID`, RECONNECTS times in a row at most."""
        path = f"/api/v1/deployments/{deployment_id}/events"
        failures = 0
        connected = False
        while True:
            received = False
            try:
                headers = {"Last-Event-ID": str(after)}
                async with self._stream(path, headers, SILENCE, "text/event-stream") as lines:
                    connected = True
                    async for event in parse_events(lines):
                        received, failures, after = True, 0, event.id
                        yield event
            except MalformedEvent as error:
                raise malformed(self.url, f"GET {path} ({error})") from None
            except (httpx.TransportError, httpx.DecodingError) as error:
                failures += 1
                if not connected:  # nothing to resume: nobody answered in the first place
                    raise ClientError(
                        0, "unreachable", f"cannot reach {self.url}: {error}"
                    ) from None
                if failures > RECONNECTS:
                    raise ClientError(
                        0, "unreachable", f"lost the event stream of {self.url}: {error}"
                    ) from None
                await asyncio.sleep(min(BACKOFF * 2 ** (failures - 1), 10.0))
                continue
            if not received:
                # The server closes the stream once the deployment is final and everything was
                # sent; a close after events may be a proxy's: asking again tells which.
                return

    async def service_logs(
        self, env: str, app: str, service: str, *, follow: bool = False
    ) -> AsyncGenerator[str, None]:
        """A service's container log lines as the cluster gives them (runway's own notices
        start with `runway:`); followed while the containers run with `follow`."""
        names = "/".join(quote(part, safe="") for part in (env, "apps", app, "services", service))
        path = f"/api/v1/environments/{names}/logs" + ("?follow=1" if follow else "")
        try:
            async with self._stream(path, {}, None if follow else self._timeout, "text/") as lines:
                async for line in lines:
                    yield line
        except httpx.TransportError as error:
            raise ClientError(
                0, "unreachable", f"cannot read logs from {self.url}: {error}"
            ) from None

    @contextlib.asynccontextmanager
    async def _stream(
        self, path: str, headers: dict[str, str], read_timeout: float | None, media_type: str
    ) -> AsyncIterator[AsyncIterator[str]]:
        """A GET whose answer (of `media_type`, or one starting so) is read line by line;
        refusals as ClientError before any line. Transport errors pass through: the caller
        knows whether to resume."""
        timeout = httpx.Timeout(self._timeout, read=read_timeout)
        try:
            request = self._http.build_request("GET", path, headers=headers, timeout=timeout)
            response = await self._http.send(request, stream=True)
        except httpx.InvalidURL as error:
            raise ClientError(0, "invalid_url", f"{self.url} is not a URL: {error}") from None
        try:
            if response.status_code >= 400:
                await response.aread()
                try:
                    body = response.json()
                except ValueError:
                    body = None
                raise self._refusal(response.status_code, body)
            if not response.headers.get("content-type", "").startswith(media_type):
                raise malformed(self.url, f"GET {path}")
            yield response.aiter_lines()
        finally:
            await response.aclose()
