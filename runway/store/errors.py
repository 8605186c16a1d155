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
