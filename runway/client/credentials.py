"""The token of the last `runway login`, kept in the user's config directory (mode 0600)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True, slots=True)
class Credentials:
    url: str
    token: str
    username: str


def config_dir() -> Path:
    """`$RUNWAY_CONFIG_DIR`, else the platform's user config directory for runway."""
    return Path(os.environ.get("RUNWAY_CONFIG_DIR") or platformdirs.user_config_dir("runway"))


def save_credentials(credentials: Credentials) -> Path:
    """Write the credentials readable by the user only."""
    return write_private(
        "credentials.json",
        {"url": credentials.url, "token": credentials.token, "username": credentials.username},
    )


def write_private(name: str, data: object) -> Path:
    """Write `data` as JSON to the config directory's file `name`, readable by the user only;
    the file never exists with wider rights, nor half written, and two commands writing it at
    once each write a file of their own before it replaces the last (mkstemp: mode 0600)."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    descriptor, made = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    temporary = Path(made)
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump(data, file)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def load_credentials() -> Credentials | None:
    """The saved credentials, or None when there are none (or they are unreadable)."""
    try:
        data = json.loads((config_dir() / "credentials.json").read_text())
        return Credentials(str(data["url"]), str(data["token"]), str(data["username"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
