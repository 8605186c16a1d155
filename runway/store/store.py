"""The Store: one database, connected and migrated, and the queries over it; on Postgres with
its listener, which brings other instances' events and signals to this process."""

from __future__ import annotations

import asyncio
import logging

from runway.store.credentials import Credentials
from runway.store.database import Backend, Db
from runway.store.deployments import Deployments
from runway.store.environments import Environments
from runway.store.figures import Figures
from runway.store.hosts import HostClaims
from runway.store.instance_lock import InstanceLock
from runway.store.leases import Leases
from runway.store.listener import Listener
from runway.store.migrations import LATEST, current_version, migrate
from runway.store.notify import EventHub, Signals
from runway.store.restore_points import RestorePoints
from runway.store.secret_versions import SecretVersions
from runway.store.settings import InstallationSettings
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
    leases: Leases
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
        self.signals = Signals(db)
        """Signals to a deployment's owner (answers, cancels): `send` them; the executor
        `subscribe`s and keeps those of the deployments it owns."""
        self.deployments = Deployments(db, self.events_hub, self.signals)
        self.hosts = HostClaims(db)
        self.transitions = Transitions(db, self.events_hub)
        self.leases = Leases(db)
        self.secret_versions = SecretVersions(db)
        self.restore_points = RestorePoints(db)
        self.settings = InstallationSettings(db)
        """The installation's settings that admins change (public URL, TLS, ...)."""
        self.figures = Figures(db)
        """What /metrics reads from the database."""
        self.listener: Listener | None = None
        """Postgres: the connection that hears other instances' events and signals."""
        self._lock: InstanceLock | None = None

    @classmethod
    async def open(cls, url: str, *, serving: bool = False) -> Store:
        """Connect to `url` (`sqlite:///PATH`, see `sqlite_url`, or `postgresql://...`) and
        migrate it; on Postgres, start listening for other instances' notifications.
        DatabaseUnavailable when it cannot be reached; SchemaTooNew when a newer runway
        migrated it. `serving`: this process is a server, and on SQLite it must be the only one
        (DatabaseInUse, before anything is opened, when another holds the file)."""
        db = Db(url)
        lock = None
        if serving and db.sqlite_path is not None:
            lock = InstanceLock(db.sqlite_path)
            db.sqlite_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock.acquire()
        store: Store | None = None
        try:
            await db.connect()
            await migrate(db)
            store = cls(db)
            store._lock = lock
            if db.backend == "postgresql":
                store.listener = Listener(db, store.events_hub, store.signals)
                await store.listener.start()
        except BaseException:
            if store is not None:
                await store.close()
            else:
                await db.close()
                if lock is not None:
                    lock.release()
            raise
        log.debug("opened the %s database at %s", db.backend, db.url)
        return store

    async def close(self) -> None:
        """Stop listening, disconnect, and let go of the SQLite serving lock."""
        try:
            if self.listener is not None:
                await self.listener.close()
            await self._db.close()
            log.info("closed the database at %s", self._db.url)
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    async def ready(self) -> bool:
        """Whether `readiness` finds nothing in the way; never raises."""
        return await self.readiness() is None

    async def readiness(self) -> str | None:
        """None when this runway can serve from the database (for `/readyz`): it answers and is
        migrated at least as far as this runway needs (further is fine: migrations only add,
        so an older instance keeps serving through a rolling update, and so does a current one
        while a newer one migrates). Otherwise why not, in a few words. Never raises. (The
        instance that migrates answers nothing until it is done: it migrates before serving.)"""
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                version = await current_version(self._db)
        except Exception as error:
            log.warning("the database at %s is not ready: %s", self._db.url, error)
            return "the database is not reachable"
        if version < LATEST:
            return f"the database is at schema version {version}; this runway needs {LATEST}"
        return None
