"""Tokens, the setup token, invites, the signing key and failed-login counters.

Secrets are never stored: only their hashes, made by the caller (`runway.auth`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from runway.store.database import Db, Row
from runway.store.errors import AlreadyExists
from runway.store.records import Invite, Role, Token, TokenKind, User
from runway.store.tables import invites, login_attempts, settings, setup_token, tokens, users
from runway.store.types import aware
from runway.store.users import USER_COLUMNS, insert_user, user_of

_SIGNING_KEY = "signing_key"

_TOKEN_COLUMNS = (
    tokens.c.id.label("token_id"),
    tokens.c.user_id.label("token_user_id"),
    tokens.c.kind.label("token_kind"),
    tokens.c.name.label("token_name"),
    tokens.c.created_at.label("token_created_at"),
    tokens.c.expires_at.label("token_expires_at"),
    tokens.c.revoked_at.label("token_revoked_at"),
)


def _token_of(row: Row) -> Token:
    return Token(
        id=row["token_id"],
        user_id=row["token_user_id"],
        kind=TokenKind(row["token_kind"]),
        name=row["token_name"],
        created_at=_at(row["token_created_at"]),
        expires_at=_at(row["token_expires_at"]),
        revoked_at=aware(row["token_revoked_at"]),
    )


def _invite_of(row: Row) -> Invite:
    return Invite(
        id=row["id"],
        role=Role(row["role"]),
        created_by=row["created_by"],
        created_at=_at(row["created_at"]),
        expires_at=_at(row["expires_at"]),
        used_at=aware(row["used_at"]),
    )


def _at(value: object) -> datetime:
    result = aware(value)
    assert result is not None
    return result


class _Rollback(Exception):
    """Raised inside a write to undo it."""


class Credentials:
    def __init__(self, db: Db) -> None:
        self._db = db
        self._signing_key: bytes | None = None

    async def create_token(
        self, user_id: int, kind: TokenKind, name: str, token_hash: str, expires_at: datetime
    ) -> Token:
        async with self._db.write():
            row = await self._db.fetch_one(
                self._db.insert(tokens)
                .values(
                    user_id=user_id,
                    kind=TokenKind(kind).value,
                    name=name,
                    token_hash=token_hash,
                    created_at=datetime.now(UTC),
                    expires_at=expires_at,
                )
                .on_conflict_do_nothing(index_elements=[tokens.c.token_hash])
                .returning(*_TOKEN_COLUMNS)
            )
        if row is None:
            raise AlreadyExists("a token with this hash")
        return _token_of(row)

    async def authenticate(self, token_hash: str, now: datetime) -> tuple[User, Token] | None:
        """The user and token for a presented token's hash, in one query; None when the token
        is unknown, revoked or expired, or its user is disabled or deleted."""
        row = await self._db.fetch_one(
            sa.select(*USER_COLUMNS, *_TOKEN_COLUMNS)
            .join_from(tokens, users, tokens.c.user_id == users.c.id)
            .where(
                tokens.c.token_hash == token_hash,
                tokens.c.revoked_at.is_(None),
                tokens.c.expires_at > now,
                users.c.disabled.is_(False),
            )
        )
        return None if row is None else (user_of(row), _token_of(row))

    async def tokens(self, user_id: int, kind: TokenKind | None = None) -> list[Token]:
        """The user's tokens that are not revoked (expired ones included), newest first."""
        query = (
            sa.select(*_TOKEN_COLUMNS)
            .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .order_by(tokens.c.id.desc())
        )
        if kind is not None:
            query = query.where(tokens.c.kind == TokenKind(kind).value)
        return [_token_of(row) for row in await self._db.fetch_all(query)]

    async def create_token_within(
        self,
        user_id: int,
        kind: TokenKind,
        name: str,
        token_hash: str,
        expires_at: datetime,
        *,
        now: datetime,
        most: int,
    ) -> Token | None:
        """`create_token`, unless the user already holds `most` live tokens (neither revoked nor
        expired) of this kind and name: None then. Counted and created under a lock of the user
        and name, so that instances sharing the database cannot pass the limit together (the
        browser dashboard's app processes: one such token each)."""
        async with self._db.write():
            await self._db.lock(f"runway:tokens:{user_id}:{name}")
            row = await self._db.fetch_one(
                sa.select(sa.func.count().label("live"))
                .select_from(tokens)
                .where(
                    tokens.c.user_id == user_id,
                    tokens.c.kind == TokenKind(kind).value,
                    tokens.c.name == name,
                    tokens.c.revoked_at.is_(None),
                    tokens.c.expires_at > now,
                )
            )
            if row is not None and int(row["live"]) >= most:
                return None
            return await self.create_token(user_id, kind, name, token_hash, expires_at)

    async def extend_token(self, user_id: int, token_id: int, expires_at: datetime) -> bool:
        """Move a live token's expiry (a short-lived token renewed while its holder runs);
        False when it is not the user's, or is revoked."""
        return await self._change_live_token(user_id, token_id, expires_at=expires_at)

    async def revoke_token(self, user_id: int, token_id: int, now: datetime) -> bool:
        """Revoke one of the user's tokens; False when it is not theirs or already revoked."""
        return await self._change_live_token(user_id, token_id, revoked_at=now)

    async def _change_live_token(self, user_id: int, token_id: int, **values: datetime) -> bool:
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.update(tokens)
                .where(
                    tokens.c.id == token_id,
                    tokens.c.user_id == user_id,
                    tokens.c.revoked_at.is_(None),
                )
                .values(**values)
                .returning(tokens.c.id)
            )
        return row is not None

    async def revoke_all(self, user_id: int, now: datetime, *, keep: int | None = None) -> int:
        """Revoke every token of the user but `keep`; how many were revoked."""
        query = sa.update(tokens).where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
        if keep is not None:
            query = query.where(tokens.c.id != keep)
        async with self._db.write():
            rows = await self._db.fetch_all(query.values(revoked_at=now).returning(tokens.c.id))
        return len(rows)

    async def setup_token(self, now: datetime) -> tuple[datetime, datetime] | None:
        """(created_at, expires_at) of the valid setup token, None when there is none."""
        row = await self._db.fetch_one(
            sa.select(setup_token.c.created_at, setup_token.c.expires_at).where(
                setup_token.c.expires_at > now
            )
        )
        return None if row is None else (_at(row["created_at"]), _at(row["expires_at"]))

    async def put_setup_token(
        self, token_hash: str, now: datetime, expires_at: datetime, *, replace: bool
    ) -> bool:
        """Store a setup token. `replace=False`: only when no valid one exists (one statement,
        so two instances starting together store one token between them); `replace=True`:
        whatever was there. True when this one was stored."""
        insert = self._db.insert(setup_token).values(
            id=1, token_hash=token_hash, created_at=now, expires_at=expires_at
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[setup_token.c.id],
            set_={
                "token_hash": insert.excluded.token_hash,
                "created_at": insert.excluded.created_at,
                "expires_at": insert.excluded.expires_at,
            },
            where=None if replace else setup_token.c.expires_at <= now,
        )
        async with self._db.write():
            row = await self._db.fetch_one(upsert.returning(setup_token.c.id))
        return row is not None

    async def create_invite(
        self, nonce_hash: str, role: Role, created_by: int, now: datetime, expires_at: datetime
    ) -> Invite:
        async with self._db.write():
            row = await self._db.fetch_one(
                sa.insert(invites)
                .values(
                    nonce_hash=nonce_hash,
                    role=Role(role).value,
                    created_by=created_by,
                    created_at=now,
                    expires_at=expires_at,
                )
                .returning(*invites.c)
            )
        assert row is not None
        return _invite_of(row)

    async def use_invite(
        self, invite_id: int, nonce_hash: str, now: datetime, name: str, password_hash: str
    ) -> User | None:
        """Mark the invite used and create its member, atomically. None when the invite is
        unknown, used, expired or the nonce does not match; AlreadyExists for a taken name
        (the invite stays unused)."""
        try:
            async with self._db.write():
                # The update locks the invite row: a concurrent use waits, then sees it used.
                row = await self._db.fetch_one(
                    sa.update(invites)
                    .where(
                        invites.c.id == invite_id,
                        invites.c.nonce_hash == nonce_hash,
                        invites.c.used_at.is_(None),
                        invites.c.expires_at > now,
                        # Only an admin who still is one, and not disabled, vouches for a person.
                        invites.c.created_by.in_(
                            sa.select(users.c.id).where(
                                users.c.role == Role.ADMIN.value, users.c.disabled.is_(False)
                            )
                        ),
                    )
                    .values(used_at=now)
                    .returning(invites.c.role)
                )
                if row is None:
                    return None
                role = Role(row["role"])
                user = await insert_user(self._db, name, password_hash, role, {}, now)
                if user is None:
                    raise _Rollback
                await self._db.execute(
                    sa.update(invites).where(invites.c.id == invite_id).values(used_by=user.id)
                )
                return user
        except _Rollback:
            raise AlreadyExists(f"user {name!r}") from None

    async def signing_key(self) -> bytes:
        """32 random bytes made by the first instance that asked, the same for every instance."""
        if self._signing_key is None:
            async with self._db.write():
                await self._db.execute(
                    self._db.insert(settings)
                    .values(name=_SIGNING_KEY, value=secrets.token_hex(32))
                    .on_conflict_do_nothing(index_elements=[settings.c.name])
                )
            row = await self._db.fetch_one(
                sa.select(settings.c.value).where(settings.c.name == _SIGNING_KEY)
            )
            assert row is not None
            self._signing_key = bytes.fromhex(row["value"])
        return self._signing_key

    async def attempt(
        self, keys: Sequence[str], at: datetime, since: datetime
    ) -> list[list[datetime]]:
        """Count a login attempt under each of `keys` and return, per key, the attempts since
        `since` before this one (oldest first). Reading and counting happen under a lock per key,
        so a burst of concurrent attempts cannot all read the counts before any is recorded.
        Older attempts of these keys are forgotten. The caller forgets this attempt when it
        succeeds (`forget_attempt`)."""
        found: list[list[datetime]] = []
        async with self._db.write():
            await self._db.lock(*(f"runway:login:{key}" for key in keys))
            for key in keys:
                await self._db.execute(
                    sa.delete(login_attempts).where(
                        login_attempts.c.key == key, login_attempts.c.at < since
                    )
                )
                found.append(await self.failures(key, since))
            await self._db.insert_rows(login_attempts, [{"key": k, "at": at} for k in keys])
        return found

    async def forget_attempt(self, keys: Sequence[str], at: datetime) -> None:
        """A successful login: the attempt recorded at `at` under `keys` was no failure."""
        async with self._db.write():
            await self._db.execute(
                sa.delete(login_attempts).where(
                    login_attempts.c.key.in_(list(keys)), login_attempts.c.at == at
                )
            )

    async def setup_token_matches(self, token_hash: str, now: datetime) -> bool:
        """Whether `token_hash` is the valid setup token's (checked before any costly work)."""
        row = await self._db.fetch_one(
            sa.select(setup_token.c.id).where(
                setup_token.c.token_hash == token_hash, setup_token.c.expires_at > now
            )
        )
        return row is not None

    async def record_failure(self, keys: Sequence[str], at: datetime) -> None:
        """One failed login attempt, counted under each of `keys` (e.g. user and address)."""
        if keys:
            async with self._db.write():
                await self._db.insert_rows(login_attempts, [{"key": k, "at": at} for k in keys])

    async def failures(self, key: str, since: datetime) -> list[datetime]:
        """When `key`'s failed attempts since `since` happened, oldest first."""
        rows = await self._db.fetch_all(
            sa.select(login_attempts.c.at)
            .where(login_attempts.c.key == key, login_attempts.c.at >= since)
            .order_by(login_attempts.c.at, login_attempts.c.id)
        )
        return [_at(row["at"]) for row in rows]

    async def clear_failures(self, key: str) -> None:
        async with self._db.write():
            await self._db.execute(sa.delete(login_attempts).where(login_attempts.c.key == key))

    async def sweep(self, before: datetime) -> dict[str, int]:
        """Forget what can no longer be used and is older than `before`: failed-login counters,
        tokens that expired or were revoked, invites used or expired. Each browser tab and SSH
        session makes a token and each failed login a counter, so without this the tables only
        grow. Counts per table, for the log."""
        async with self._db.write():
            attempts = await self._db.fetch_all(
                sa.delete(login_attempts)
                .where(login_attempts.c.at < before)
                .returning(login_attempts.c.id)
            )
            dead_tokens = await self._db.fetch_all(
                sa.delete(tokens)
                .where(sa.or_(tokens.c.expires_at < before, tokens.c.revoked_at < before))
                .returning(tokens.c.id)
            )
            dead_invites = await self._db.fetch_all(
                sa.delete(invites)
                .where(sa.or_(invites.c.expires_at < before, invites.c.used_at < before))
                .returning(invites.c.id)
            )
        return {
            "login_attempts": len(attempts),
            "tokens": len(dead_tokens),
            "invites": len(dead_invites),
        }
