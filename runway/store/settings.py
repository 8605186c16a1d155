"""The installation's settings that admins change while runway runs (public URL, apps domain,
ingress class, TLS, default quota, trusted proxies): one row of `settings` each, its value JSON.

Checking a value is the API's job (runway.http): the store keeps what it is given. Next to each
setting that a flag of `runway serve` may give, a row `flag:NAME` remembers the flag's value the
last time a server started with it, so that a server can tell a flag that changed (it wins) from
one that merely stayed as it was (an admin's later change wins): see `seed`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from runway.store.database import Db
from runway.store.tables import settings

NAMES = (
    "public_url",
    "apps_domain",
    "ingress_class",
    "tls",
    "default_quota",
    "trusted_proxies",
)
"""The settings kept here (`allowed_domains` is runway.store.hosts')."""
_FLAG = "flag:"


class InstallationSettings:
    """Reading and writing the settings of NAMES."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def read(self) -> dict[str, Any]:
        """The settings that are stored, by name (a setting never set is absent; one set to
        nothing is None)."""
        rows = await self._db.fetch_all(
            sa.select(settings.c.name, settings.c.value).where(settings.c.name.in_(NAMES))
        )
        return {str(row["name"]): json.loads(row["value"]) for row in rows}

    async def write(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Store `values` in one transaction (None is stored too: a setting turned off, such as
        no TLS, is not one never set); every stored setting afterwards. ValueError for a name
        not in NAMES."""
        unknown = sorted(set(values) - set(NAMES))
        if unknown:
            raise ValueError(f"not installation settings: {', '.join(unknown)}")
        async with self._db.write():
            for name, value in values.items():
                await self._put(name, value)
        return await self.read()

    async def seed(self, flags: Mapping[str, Any]) -> dict[str, Any]:
        """A starting server's flags (the values given, by setting name): each one that differs
        from what the flag said when a server last started with it is stored, and remembered
        as the flag's value; a flag unchanged since then leaves the setting alone, so an
        admin's change made meanwhile stands. The settings the flags changed, by name.

        So the last change wins: an admin's PATCH until someone changes the flag itself
        (`runway install` again with another value, say). Under one transaction: instances
        starting together agree."""
        changed: dict[str, Any] = {}
        async with self._db.write():
            rows = await self._db.fetch_all(
                sa.select(settings.c.name, settings.c.value).where(
                    settings.c.name.in_([_FLAG + name for name in flags])
                )
            )
            seen = {str(row["name"])[len(_FLAG) :]: json.loads(row["value"]) for row in rows}
            for name, value in flags.items():
                if name not in NAMES:
                    raise ValueError(f"not an installation setting: {name}")
                if name in seen and seen[name] == value:
                    continue
                await self._put(name, value)
                await self._put(_FLAG + name, value)
                changed[name] = value
        return changed

    async def _put(self, name: str, value: Any) -> None:
        insert = self._db.insert(settings).values(name=name, value=json.dumps(value))
        await self._db.execute(
            insert.on_conflict_do_update(
                index_elements=[settings.c.name], set_={"value": insert.excluded.value}
            )
        )
