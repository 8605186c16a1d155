"""The Store: one database, connected and migrated, and the queries over it."""

from __future__ import annotations

import asyncio
import logging

from runway.store.credentials import Credentials
from runway.store.database import Backend, Db
from runway.store.deployments import Deployments
from runway.store.environments import Environments
from runway.store.hosts import HostClaims
from runway.store.migrations import LATEST, current_version, migrate
from runway.store.notify import EventHub
from runway.store.secret_versions import SecretVersions
from runway.store.transitions import Transitions
from runway.store.users import Users

log = logging.getLogger("runway.store")

READY_TIMEOUT = 5.0


class Store:
    """runway's database. Build it with `await Store.open(url)`; `close()` when done."""

    backend: Backend
    """"sqlite" or "postgresql"."""
    users: Users
    credentials: Credentials
    environments: Environments
    deployments: Deployments
    hosts: HostClaims
    """Which app holds each Ingress host, and the domains hosts may be under."""
    transitions: Transitions
    secret_versions: SecretVersions
    """The version counter of each secret input's Secrets."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self.backend = db.backend
        self.users = Users(db)
        self.credentials = Credentials(db)
        self.environments = Environments(db)
        self.events_hub = EventHub()
        """Wakes this process's event streams when an event is stored."""
        self.deployments = Deployments(db, self.events_hub)
        self.hosts = HostClaims(db)
        self.transitions = Transitions(db, self.events_hub)
        self.secret_versions = SecretVersions(db)

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect to `url` (`sqlite:///PATH`, see `sqlite_url`, or `postgresql://...`) and
        migrate it. DatabaseUnavailable when it cannot be reached; SchemaTooNew when a newer
        runway migrated it."""
        db = Db(url)
        await db.connect()
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        log.debug("opened the %s database at %s", db.backend, db.url)
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def ready(self) -> bool:
        """Whether the database answers and is fully migrated (for `/readyz`); never raises."""
        try:
            version = await asyncio.wait_for(current_version(self._db), READY_TIMEOUT)
        except Exception as error:
            log.warning("the database at %s is not ready: %s", self._db.url, error)
            return False
        return version == LATEST
