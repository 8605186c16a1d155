"""Device tokens kept beside the credentials (`devices.json`, mode 0600), one per server and
user: each login sends the one it has and keeps the new one the server gives, so the pause
that others' guesses put on a user does not hold up this machine's logins."""

from __future__ import annotations

import json
from typing import Any

from runway.client.api import Client
from runway.client.credentials import config_dir, write_private

_FILE = "devices.json"


async def log_in(client: Client, username: str, password: str) -> dict[str, Any]:
    """Log in through `client` with this machine's device token for that user at that server,
    and keep the new one the answer gives (a refused login keeps the old one)."""
    found = await client.login(username, password, load_device(client.url, username))
    device = found.get("device")
    if isinstance(device, str) and device:
        save_device(client.url, username, device)
    return found


def load_device(url: str, username: str) -> str | None:
    """The device token kept for `username` at the server `url`, if any."""
    token = _all().get(url.rstrip("/"), {}).get(username)
    return token if isinstance(token, str) else None


def save_device(url: str, username: str, token: str) -> None:
    """Keep `token` as the device token of `username` at the server `url`."""
    devices = _all()
    devices.setdefault(url.rstrip("/"), {})[username] = token
    write_private(_FILE, devices)


def _all() -> dict[str, dict[str, Any]]:
    """Every kept token by server and user; nothing when the file is missing or unreadable."""
    try:
        data = json.loads((config_dir() / _FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {url: users for url, users in data.items() if isinstance(users, dict)}
