"""Names of users and environments: they end up in namespace names, so DNS labels."""

from __future__ import annotations

import re

from runway.auth.errors import InvalidName

USERNAME_MAX = 32
ENVIRONMENT_MAX = 32
_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_RULE = "lowercase letters, digits and '-', starting with a letter and not ending with '-'"


RESERVED_USERNAMES = frozenset({"me"})
"""`/api/v1/users/me` is the caller: no user may be called that."""


def check_username(name: str) -> None:
    _check("user name", name, USERNAME_MAX)
    if name in RESERVED_USERNAMES:
        raise InvalidName(f"the user name '{name}' is reserved; choose another")


def check_environment_name(name: str) -> None:
    _check("environment name", name, ENVIRONMENT_MAX)


def _check(what: str, name: str, limit: int) -> None:
    if not _LABEL.fullmatch(name):
        raise InvalidName(f"'{name}' is not a valid {what}: use {_RULE}")
    if len(name) > limit:
        raise InvalidName(
            f"the {what} '{name}' is {len(name)} characters long; the limit is {limit}"
        )
