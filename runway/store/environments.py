"""Environments: a user's deployment spaces, each with its own Kubernetes namespace."""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa

from runway.store import pages
from runway.store.database import Db, Row
from runway.store.errors import AlreadyExists
from runway.store.records import Environment, OnFailure, User
from runway.store.tables import environments, users
from runway.store.types import aware, utc

MAX_LABEL = 63
_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_HASH_LENGTH = 10  # hex digits: 40 bits
_ATTEMPTS = 20

_COLUMNS = (*environments.c, users.c.name.label("owner"))


def namespace_candidates(user: str, env: str) -> Iterator[str]:
    """Namespace names for `user`'s environment `env`, best first.

    `rw-<user>-<env>` when that is a DNS label of at most 63 characters; then (for a longer or
    invalid name, or when another environment holds it: user `a-b` env `c` and user `a` env
    `b-c` both make `rw-a-b-c`) the name cut down to a label and ended with a hash of the exact
    user and environment names, which tells such pairs apart.
    """
    plain = f"rw-{user}-{env}"
    if len(plain) <= MAX_LABEL and _LABEL.fullmatch(plain):
        yield plain
    stem = re.sub(r"[^a-z0-9]+", "-", plain.lower())
    stem = stem[: MAX_LABEL - _HASH_LENGTH - 1].rstrip("-")
    for attempt in range(_ATTEMPTS):
        seed = json.dumps([user, env] if attempt == 0 else [user, env, attempt])
        yield f"{stem}-{hashlib.sha256(seed.encode()).hexdigest()[:_HASH_LENGTH]}"


def _environment_of(row: Row) -> Environment:
    created_at = aware(row["created_at"])
    assert created_at is not None
    return Environment(
        id=row["id"],
        owner_id=row["owner_id"],
        owner=row["owner"],
        name=row["name"],
        namespace=row["namespace"],
        on_failure=OnFailure(row["on_failure"]),
        created_at=created_at,
    )


def _select() -> sa.Select[tuple[object, ...]]:
    return sa.select(*_COLUMNS).join_from(
        environments, users, environments.c.owner_id == users.c.id
    )


class Environments:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def create(self, owner: User, name: str, now: datetime) -> Environment:
        """A new environment of `owner` with a namespace of its own; AlreadyExists when the
        owner has one of that name."""
        async with self._db.write():
            if await self._exists(owner.id, name):
                raise AlreadyExists(f"environment {name!r} of user {owner.name!r}")
            for namespace in namespace_candidates(owner.name, name):
                taken = await self._db.fetch_one(
                    sa.select(environments.c.owner_id, environments.c.name).where(
                        environments.c.namespace == namespace
                    )
                )
                if taken is not None:
                    if taken["owner_id"] == owner.id and taken["name"] == name:
                        break
                    continue
                # ON CONFLICT DO NOTHING: on Postgres another instance may take the name or the
                # namespace between the check and the insert; no row back says which to check.
                row = await self._db.fetch_one(
                    self._db.insert(environments)
                    .values(
                        owner_id=owner.id,
                        name=name,
                        namespace=namespace,
                        on_failure=OnFailure.MANUAL.value,
                        last_number=0,
                        created_at=now,
                    )
                    .on_conflict_do_nothing()
                    .returning(environments.c.id)
                )
                if row is not None:
                    return Environment(
                        id=row["id"],
                        owner_id=owner.id,
                        owner=owner.name,
                        name=name,
                        namespace=namespace,
                        on_failure=OnFailure.MANUAL,
                        created_at=utc(now),
                    )
                if await self._exists(owner.id, name):
                    break
        raise AlreadyExists(f"environment {name!r} of user {owner.name!r}")

    async def _exists(self, owner_id: int, name: str) -> bool:
        row = await self._db.fetch_one(
            sa.select(environments.c.id).where(
                environments.c.owner_id == owner_id, environments.c.name == name
            )
        )
        return row is not None

    async def get(self, owner_id: int, name: str) -> Environment | None:
        row = await self._db.fetch_one(
            _select().where(environments.c.owner_id == owner_id, environments.c.name == name)
        )
        return None if row is None else _environment_of(row)

    async def by_id(self, environment_id: int) -> Environment | None:
        row = await self._db.fetch_one(_select().where(environments.c.id == environment_id))
        return None if row is None else _environment_of(row)

    async def list(
        self, owner_id: int | None, *, limit: int, cursor: str | None
    ) -> tuple[builtins.list[Environment], str | None]:
        """A page of `owner_id`'s environments (None: everyone's), newest first, and the cursor
        of the next page (None: no more)."""
        pages.check_limit(limit)
        query = _select().order_by(environments.c.id.desc()).limit(limit + 1)
        if owner_id is not None:
            query = query.where(environments.c.owner_id == owner_id)
        after = pages.decode(cursor)
        if after is not None:
            query = query.where(environments.c.id < after)
        found = [_environment_of(row) for row in await self._db.fetch_all(query)]
        return pages.page(found, limit, lambda environment: environment.id)

    async def update(self, environment_id: int, *, on_failure: OnFailure) -> Environment | None:
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.update(environments)
                .where(environments.c.id == environment_id)
                .values(on_failure=OnFailure(on_failure).value)
                .returning(environments.c.id)
            )
        return None if row is None else await self.by_id(environment_id)

    async def delete(self, environment_id: int) -> bool:
        """Delete an environment with its deployments, their steps, answers, events and leases,
        and its host claims."""
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.delete(environments)
                .where(environments.c.id == environment_id)
                .returning(environments.c.id)
            )
        return row is not None
