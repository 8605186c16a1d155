"""Talking to a runway server over HTTP: one method per call the clients need."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx


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
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, transport=transport, timeout=timeout
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
            found = body.get("error") if isinstance(body, dict) else None
            if isinstance(found, dict):
                raise ClientError(
                    response.status_code,
                    str(found.get("code", "error")),
                    str(found.get("message", "")),
                    found.get("details") or [],
                )
            raise ClientError(
                response.status_code, "error", f"{self.url} answered {response.status_code}"
            )
        return body

    async def login(self, username: str, password: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.request(
            "POST", "/api/v1/sessions", json={"username": username, "password": password}
        )
        return found

    async def me(self) -> dict[str, Any]:
        found: dict[str, Any] = await self.request("GET", "/api/v1/users/me")
        return found

    async def change_password(self, current: str, new: str) -> None:
        await self.request(
            "PATCH", "/api/v1/users/me", json={"current_password": current, "password": new}
        )

    async def create_deployment(
        self, env: str, configuration: bytes, content_type: str
    ) -> dict[str, Any]:
        found: dict[str, Any] = await self.request(
            "POST",
            f"/api/v1/environments/{env}/deployments",
            content=configuration,
            content_type=content_type,
        )
        return found
