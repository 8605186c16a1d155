"""People with a login, and their SSH keys."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from runway.store import pages
from runway.store.database import Db, Row
from runway.store.errors import AlreadyExists
from runway.store.records import Role, SshKey, User
from runway.store.tables import setup_token, ssh_keys, users
from runway.store.types import aware

USER_COLUMNS = (
    users.c.id,
    users.c.name,
    users.c.role,
    users.c.disabled,
    users.c.quota,
    users.c.created_at,
)


def user_of(row: Row) -> User:
    """A User from a row holding USER_COLUMNS."""
    return User(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        disabled=bool(row["disabled"]),
        created_at=_at(row["created_at"]),
        quota=dict(row["quota"] or {}),
    )


def _at(value: Any) -> datetime:
    result = aware(value)
    assert result is not None
    return result


def _key_of(row: Row) -> SshKey:
    return SshKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        public_key=row["public_key"],
        fingerprint=row["fingerprint"],
        created_at=_at(row["created_at"]),
    )


async def insert_user(
    db: Db, name: str, password_hash: str, role: Role, quota: dict[str, str], now: datetime
) -> User | None:
    """Insert a user inside the caller's write; None when the name is taken."""
    stmt = (
        db.insert(users)
        .values(
            name=name,
            role=Role(role).value,
            disabled=False,
            quota=quota,
            password_hash=password_hash,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[users.c.name])
        .returning(*USER_COLUMNS)
    )
    row = await db.fetch_one(stmt)
    return None if row is None else user_of(row)


class _Rollback(Exception):
    """Raised inside a write to undo it."""


FIRST_ADMIN_LOCK = "runway:first-admin"


class Users:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def count(self) -> int:
        row = await self._db.fetch_one(sa.select(sa.func.count()).select_from(users))
        return int(row[0]) if row is not None else 0

    async def create(
        self,
        name: str,
        password_hash: str,
        role: Role,
        *,
        quota: dict[str, str] | None = None,
    ) -> User:
        """A new user; AlreadyExists when the name is taken."""
        async with self._db.write():
            user = await insert_user(
                self._db, name, password_hash, role, quota or {}, datetime.now(UTC)
            )
        if user is None:
            raise AlreadyExists(f"user {name!r}")
        return user

    async def create_first_admin(
        self, name: str, password_hash: str, setup_token_hash: str, now: datetime
    ) -> User | None:
        """The first admin, when the setup token matches and is unexpired and no user exists;
        the token is consumed in the same transaction. None otherwise (nothing changes)."""
        try:
            async with self._db.write():
                # One first admin, whether made here or by `runway setup` on another instance.
                await self._db.lock(FIRST_ADMIN_LOCK)
                consumed = await self._db.fetch_one(
                    sa.delete(setup_token)
                    .where(setup_token.c.token_hash == setup_token_hash)
                    .where(setup_token.c.expires_at > now)
                    .returning(setup_token.c.id)
                )
                if consumed is None or await self.count() > 0:
                    raise _Rollback
                user = await insert_user(self._db, name, password_hash, Role.ADMIN, {}, now)
                if user is None:
                    raise _Rollback
                return user
        except _Rollback:
            return None

    async def create_first_admin_directly(
        self, name: str, password_hash: str, now: datetime
    ) -> User | None:
        """`runway setup --admin`: the first admin without a setup token (the caller reaches the
        database itself); None when a user exists. Any setup token is deleted with it."""
        try:
            async with self._db.write():
                await self._db.lock(FIRST_ADMIN_LOCK)
                if await self.count() > 0:
                    raise _Rollback
                user = await insert_user(self._db, name, password_hash, Role.ADMIN, {}, now)
                if user is None:
                    raise _Rollback
                await self._db.execute(sa.delete(setup_token))
                return user
        except _Rollback:
            return None

    async def get(self, user_id: int) -> User | None:
        row = await self._db.fetch_one(sa.select(*USER_COLUMNS).where(users.c.id == user_id))
        return None if row is None else user_of(row)

    async def by_name(self, name: str) -> User | None:
        row = await self._db.fetch_one(sa.select(*USER_COLUMNS).where(users.c.name == name))
        return None if row is None else user_of(row)

    async def password_hash(self, user_id: int) -> str | None:
        row = await self._db.fetch_one(
            sa.select(users.c.password_hash).where(users.c.id == user_id)
        )
        return None if row is None else str(row["password_hash"])

    async def set_password(self, user_id: int, password_hash: str) -> None:
        async with self._db.write():
            await self._db.execute(
                sa.update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )

    async def list(
        self, *, limit: int, cursor: str | None
    ) -> tuple[builtins.list[User], str | None]:
        """A page of users, newest first, and the cursor of the next page (None: no more)."""
        pages.check_limit(limit)
        query = sa.select(*USER_COLUMNS).order_by(users.c.id.desc()).limit(limit + 1)
        after = pages.decode(cursor)
        if after is not None:
            query = query.where(users.c.id < after)
        found = [user_of(row) for row in await self._db.fetch_all(query)]
        return pages.page(found, limit, lambda user: user.id)

    async def update(
        self,
        user_id: int,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
        quota: dict[str, str] | None = None,
    ) -> User | None:
        """Change what is given (None: unchanged); the user as it now is, None when unknown."""
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = Role(role).value
        if disabled is not None:
            values["disabled"] = disabled
        if quota is not None:
            values["quota"] = quota
        if not values:
            return await self.get(user_id)
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.update(users)
                .where(users.c.id == user_id)
                .values(**values)
                .returning(*USER_COLUMNS)
            )
        return None if row is None else user_of(row)

    async def delete(self, user_id: int) -> bool:
        """Delete a user with everything they own: tokens, keys, invites they made, their
        environments with every deployment in them (ON DELETE CASCADE)."""
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.delete(users).where(users.c.id == user_id).returning(users.c.id)
            )
        return row is not None

    async def add_key(self, user_id: int, name: str, public_key: str, fingerprint: str) -> SshKey:
        """Register an SSH key; AlreadyExists when anyone registered its fingerprint."""
        async with self._db.write():
            row = await self._db.fetch_one(
                self._db.insert(ssh_keys)
                .values(
                    user_id=user_id,
                    name=name,
                    public_key=public_key,
                    fingerprint=fingerprint,
                    created_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=[ssh_keys.c.fingerprint])
                .returning(*ssh_keys.c)
            )
        if row is None:
            raise AlreadyExists(f"ssh key {fingerprint!r}")
        return _key_of(row)

    async def keys(self, user_id: int) -> builtins.list[SshKey]:
        rows = await self._db.fetch_all(
            sa.select(ssh_keys).where(ssh_keys.c.user_id == user_id).order_by(ssh_keys.c.id)
        )
        return [_key_of(row) for row in rows]

    async def delete_key(self, user_id: int, key_id: int) -> bool:
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.delete(ssh_keys)
                .where(ssh_keys.c.id == key_id, ssh_keys.c.user_id == user_id)
                .returning(ssh_keys.c.id)
            )
        return row is not None

    async def by_key(self, fingerprint: str) -> User | None:
        """The user who registered the key with `fingerprint` (disabled or not: check)."""
        row = await self._db.fetch_one(
            sa.select(*USER_COLUMNS)
            .join_from(users, ssh_keys, ssh_keys.c.user_id == users.c.id)
            .where(ssh_keys.c.fingerprint == fingerprint)
        )
        return None if row is None else user_of(row)
