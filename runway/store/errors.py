"""The store's errors: one tree, so callers catch `StoreError` or one precise case.

Driver exceptions (sqlite3, asyncpg) are translated here at the boundary; nothing above
`runway.store` needs to know which database is in use.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class DatabaseUnavailable(StoreError):
    """The database could not be reached or opened (`Store.open`); the message names the URL
    with any password replaced by `***`."""


class SchemaTooNew(StoreError):
    """The database was migrated by a newer runway than this one (`Store.open`): the message names
    both schema versions and says to upgrade runway. Nothing was changed."""

    def __init__(self, url: str, found: int, supported: int) -> None:
        super().__init__(
            f"the database at {url} has schema version {found}, but this runway supports "
            f"schema versions up to {supported}: upgrade runway to the version that last "
            "migrated this database (or newer)"
        )
        self.found = found
        self.supported = supported


class AlreadyExists(StoreError):
    """A create would duplicate something that must be unique; `what` names it for a person,
    e.g. `user 'ann'`."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} already exists")
        self.what = what


class NotFound(StoreError):
    """A write needed a row that is gone (e.g. an environment deleted while a deployment was
    being created in it); `what` names it. Reads answer `None` instead."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} does not exist")
        self.what = what


class InvalidCursor(StoreError, ValueError):
    """A pagination cursor that this store did not hand out (a client's typo or tampering)."""


class InvalidHost(StoreError, ValueError):
    """A host name (or an allowed domain) that is not a DNS name runway can claim: `host` is what
    was given."""

    def __init__(self, host: str, why: str) -> None:
        super().__init__(f"'{host}' is not a host name such as blog.example.org: {why}")
        self.host = host
        self.why = why


class HostTaken(StoreError):
    """A claim found hosts held by another app (of this or any environment): `hosts` are the
    taken ones, normalised. The message names nothing of who holds them, so it can be shown to
    anyone; the claim changed nothing."""

    def __init__(self, hosts: tuple[str, ...]) -> None:
        shown = ", ".join(hosts)
        one = len(hosts) == 1
        super().__init__(
            f"the host{'' if one else 's'} {shown} {'is' if one else 'are'} already claimed by "
            "another app"
        )
        self.hosts = hosts


class HostNotAllowed(StoreError):
    """A claim named hosts outside the installation's allowed domains: `hosts` are the refused
    ones (normalised), `allowed` the domains; the claim changed nothing."""

    def __init__(self, hosts: tuple[str, ...], allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"{', '.join(hosts)} {'is' if len(hosts) == 1 else 'are'} not under the domains "
            f"this installation allows: {', '.join(allowed)}"
        )
        self.hosts = hosts
        self.allowed = allowed
