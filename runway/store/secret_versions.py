"""Versions of secret inputs' Secrets: one counter per environment, app and input.

A secret answer is stored as the immutable Kubernetes Secret `<app>-<input>-<version>`
(runway.deploy.input_secrets). The version comes from this counter rather than from the
deployment: every answer takes a version no earlier answer had, on any instance (the increment
is one statement on one row), so a new value is always a new Secret, an answer given twice
never meets an immutable Secret holding another value, and the Secrets an older deployment
refers to are never overwritten (a rollback finds its own values). The counter goes with its
environment (ON DELETE CASCADE), as the namespace and its Secrets do.
"""

from __future__ import annotations

import sqlalchemy as sa

from runway.store.database import Db
from runway.store.errors import NotFound
from runway.store.tables import environments, secret_versions


class SecretVersions:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def next(self, environment_id: int, app: str, input_name: str) -> int:
        """The next version (from 1) for a secret input of `app` in the environment, never
        handed out before; NotFound when the environment is gone."""
        insert = self._db.insert(secret_versions).values(
            environment_id=environment_id, app=app, input=input_name, last_version=1
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[
                secret_versions.c.environment_id,
                secret_versions.c.app,
                secret_versions.c.input,
            ],
            set_={"last_version": secret_versions.c.last_version + 1},
        ).returning(secret_versions.c.last_version)
        async with self._db.write():
            exists = await self._db.fetch_one(
                sa.select(environments.c.id).where(environments.c.id == environment_id)
            )
            if exists is None:
                raise NotFound(f"environment {environment_id}")
            row = await self._db.fetch_one(upsert)
        assert row is not None
        return int(row["last_version"])
