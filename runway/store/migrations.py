"""Versioned schema migrations, run by `Store.open`.

Each migration is frozen DDL text: editing `tables.py` never changes what an existing migration
creates (a test checks that the migrated database matches `tables.py`). The applied versions are
rows of `schema_version`. On Postgres the whole run holds `pg_advisory_lock` on one connection, so
instances that start together migrate one after the other; on SQLite every step is a
`BEGIN IMMEDIATE` transaction that reads the version again before changing anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from runway.store.database import Backend, Db
from runway.store.errors import SchemaTooNew
from runway.store.tables import schema_version

log = logging.getLogger("runway.store")

# Any fixed 64-bit number; runway's own, so other users of the database are not blocked.
_ADVISORY_LOCK_KEY = 0x72756E7761790001

# The only types that differ between the backends, spelled out once per backend.
_TYPES: dict[Backend, dict[str, str]] = {
    "sqlite": {"id": "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT", "ts": "DATETIME"},
    "postgresql": {"id": "id SERIAL NOT NULL PRIMARY KEY", "ts": "TIMESTAMP WITH TIME ZONE"},
}

_SCHEMA_VERSION = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL PRIMARY KEY,
    applied_at {ts} NOT NULL
)"""

_CREATE_EVERYTHING = [
    """CREATE TABLE users (
    {id},
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    disabled BOOLEAN NOT NULL,
    quota JSON NOT NULL,
    password_hash TEXT NOT NULL,
    created_at {ts} NOT NULL
)""",
    """CREATE TABLE ssh_keys (
    {id},
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    created_at {ts} NOT NULL
)""",
    "CREATE INDEX ix_ssh_keys_user_id ON ssh_keys (user_id)",
    """CREATE TABLE tokens (
    {id},
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    revoked_at {ts}
)""",
    "CREATE INDEX ix_tokens_user_id ON tokens (user_id)",
    """CREATE TABLE invites (
    {id},
    nonce_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    used_at {ts},
    used_by INTEGER REFERENCES users (id) ON DELETE SET NULL
)""",
    "CREATE INDEX ix_invites_created_by ON invites (created_by)",
    """CREATE TABLE setup_token (
    id INTEGER NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    CONSTRAINT ck_setup_token_single CHECK (id = 1)
)""",
    """CREATE TABLE settings (
    name TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
)""",
    """CREATE TABLE login_attempts (
    {id},
    "key" TEXT NOT NULL,
    at {ts} NOT NULL
)""",
    'CREATE INDEX ix_login_attempts_key_at ON login_attempts ("key", at)',
    "CREATE INDEX ix_login_attempts_at ON login_attempts (at)",
    """CREATE TABLE environments (
    {id},
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL UNIQUE,
    on_failure TEXT NOT NULL,
    last_number INTEGER NOT NULL,
    created_at {ts} NOT NULL,
    CONSTRAINT uq_environments_owner_id_name UNIQUE (owner_id, name)
)""",
    """CREATE TABLE deployments (
    {id},
    environment_id INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    app TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    config_text TEXT NOT NULL,
    config_format TEXT NOT NULL,
    "plan" JSON NOT NULL,
    created_by INTEGER NOT NULL,
    created_at {ts} NOT NULL,
    started_at {ts},
    finished_at {ts},
    rollback_of INTEGER REFERENCES deployments (id) ON DELETE SET NULL,
    last_event_id INTEGER NOT NULL,
    CONSTRAINT uq_deployments_environment_id_number UNIQUE (environment_id, number)
)""",
    """CREATE INDEX ix_deployments_environment_id_app_number
    ON deployments (environment_id, app, number)""",
    "CREATE INDEX ix_deployments_rollback_of ON deployments (rollback_of)",
    """CREATE TABLE steps (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    started_at {ts},
    finished_at {ts},
    PRIMARY KEY (deployment_id, position),
    CONSTRAINT uq_steps_deployment_id_name UNIQUE (deployment_id, name)
)""",
    """CREATE TABLE answers (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    input TEXT NOT NULL,
    value JSON,
    secret_name TEXT,
    secret_key TEXT,
    source TEXT NOT NULL,
    PRIMARY KEY (deployment_id, input)
)""",
    """CREATE TABLE events (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    at {ts} NOT NULL,
    type TEXT NOT NULL,
    data JSON NOT NULL,
    PRIMARY KEY (deployment_id, id)
)""",
    """CREATE TABLE leases (
    deployment_id INTEGER NOT NULL PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_at {ts} NOT NULL
)""",
    """CREATE TABLE host_claims (
    host TEXT NOT NULL PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    app TEXT NOT NULL
)""",
    "CREATE INDEX ix_host_claims_environment_id ON host_claims (environment_id)",
]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    summary: str
    statements: tuple[str, ...]

    def sql(self, backend: Backend) -> list[str]:
        return [statement.format_map(_TYPES[backend]) for statement in self.statements]


_SECRET_VERSIONS = [
    """CREATE TABLE secret_versions (
    environment_id INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    app TEXT NOT NULL,
    input TEXT NOT NULL,
    last_version INTEGER NOT NULL,
    PRIMARY KEY (environment_id, app, input)
)""",
]

_CANCEL_REQUESTS = [
    "ALTER TABLE deployments ADD COLUMN cancel_requested_at {ts}",
]

_RESTORE_POINTS = [
    """CREATE TABLE restore_points (
    deployment_id INTEGER NOT NULL PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    environment_id INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    app TEXT NOT NULL,
    number INTEGER NOT NULL,
    taken_at {ts} NOT NULL,
    volumes JSON NOT NULL,
    pruned_at {ts}
)""",
    """CREATE INDEX ix_restore_points_environment_id_app_number
    ON restore_points (environment_id, app, number)""",
    """CREATE TABLE restore_point_settings (
    environment_id INTEGER NOT NULL PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
    kept INTEGER NOT NULL
)""",
]

_STEPS_FINISHED = [
    "CREATE INDEX ix_steps_finished_at ON steps (finished_at)",
]

MIGRATIONS = (
    Migration(1, "create every table", tuple(_CREATE_EVERYTHING)),
    Migration(2, "a version counter per secret input", tuple(_SECRET_VERSIONS)),
    Migration(
        3, "cancels requested of a deployment another instance runs", tuple(_CANCEL_REQUESTS)
    ),
    Migration(4, "restore points of deployments, kept per environment", tuple(_RESTORE_POINTS)),
    Migration(5, "steps found by when they finished (for /metrics)", tuple(_STEPS_FINISHED)),
)
LATEST = MIGRATIONS[-1].version


async def migrate(db: Db) -> None:
    """Bring the database to `LATEST`; SchemaTooNew (changing nothing) when it is newer."""
    if db.backend == "postgresql":
        # A bare execute would be unlocked at once: asyncpg unlocks when a connection goes back
        # to the pool. The session keeps this task on one connection until the block ends.
        async with db.session():
            await db.execute(f"SELECT pg_advisory_lock({_ADVISORY_LOCK_KEY})")
            try:
                await _migrate(db)
            finally:
                await db.execute(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK_KEY})")
    else:
        await _migrate(db)


async def current_version(db: Db) -> int:
    row = await db.fetch_one(sa.select(sa.func.max(schema_version.c.version)))
    return int(row[0]) if row is not None and row[0] is not None else 0


async def _migrate(db: Db) -> None:
    while True:
        async with db.write():
            await db.execute(_SCHEMA_VERSION.format_map(_TYPES[db.backend]))
            version = await current_version(db)
            if version > LATEST:
                raise SchemaTooNew(db.url, version, LATEST)
            if version == LATEST:
                return
            migration = MIGRATIONS[version]
            log.info(
                "migrating the database at %s to schema version %d: %s",
                db.url,
                migration.version,
                migration.summary,
            )
            for statement in migration.sql(db.backend):
                await db.execute(statement)
            await db.execute(
                sa.insert(schema_version).values(
                    version=migration.version, applied_at=datetime.now(UTC)
                )
            )
