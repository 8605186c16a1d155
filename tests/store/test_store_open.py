"""Opening a database: backends, migrations, refusals, readiness, and the schema itself."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from runway.store import (
    SCHEMA_VERSION,
    DatabaseUnavailable,
    SchemaTooNew,
    Store,
    safe_url,
    sqlite_url,
)
from runway.store.tables import metadata
from tests.store.store_worlds import Postgres, Raw

pytestmark = pytest.mark.anyio


def test_the_embedded_default_lives_in_the_data_dir(tmp_path: Path):
    data_dir = tmp_path / "a dir" / "data?"
    url = sqlite_url(data_dir)
    assert data_dir.is_dir()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert url.startswith("sqlite:///")
    assert Raw(url).sqlite_path() == str(data_dir / "runway.db")


async def test_sqlite_is_opened_in_wal_mode_with_foreign_keys(tmp_path: Path):
    url = sqlite_url(tmp_path)
    store = await Store.open(url)
    try:
        assert store.backend == "sqlite"
        assert await Raw(url).fetch("PRAGMA journal_mode") == [("wal",)]
        assert (tmp_path / "runway.db").exists()
    finally:
        await store.close()


async def test_a_postgres_url_uses_postgres(postgres: Postgres):
    url = await postgres.new_database()
    for spelling in (url, url.replace("postgresql://", "postgres://")):
        store = await Store.open(spelling)
        try:
            assert store.backend == "postgresql"
            assert await store.ready()
        finally:
            await store.close()


async def test_opening_migrates_once_and_reopening_changes_nothing(fresh_url: str, caplog):
    caplog.set_level(logging.INFO, logger="runway.store")
    for _ in range(2):
        await (await Store.open(fresh_url)).close()
    migrations = [r for r in caplog.records if r.getMessage().startswith("migrating")]
    assert len(migrations) == SCHEMA_VERSION
    assert await Raw(fresh_url).fetch("SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in range(1, SCHEMA_VERSION + 1)
    ]


async def test_two_instances_opening_a_fresh_database_at_once_migrate_it_once(
    fresh_url: str, caplog
):
    caplog.set_level(logging.INFO, logger="runway.store")
    stores = await asyncio.gather(*(Store.open(fresh_url) for _ in range(2)))
    try:
        assert [await s.ready() for s in stores] == [True, True]
    finally:
        for s in stores:
            await s.close()
    migrations = [r for r in caplog.records if r.getMessage().startswith("migrating")]
    assert len(migrations) == SCHEMA_VERSION
    assert await Raw(fresh_url).fetch("SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in range(1, SCHEMA_VERSION + 1)
    ]


async def test_a_database_newer_than_the_code_is_refused_clearly(fresh_url: str):
    await (await Store.open(fresh_url)).close()
    raw = Raw(fresh_url)
    future = SCHEMA_VERSION + 6
    await raw.execute(
        f"INSERT INTO schema_version (version, applied_at) VALUES ({future}, '2030-01-01')"
    )
    with pytest.raises(SchemaTooNew) as refused:
        await Store.open(fresh_url)
    message = str(refused.value)
    assert f"schema version {future}" in message
    assert f"up to {SCHEMA_VERSION}" in message
    assert "upgrade runway" in message
    assert await raw.count("schema_version") == SCHEMA_VERSION + 1


async def test_an_unreachable_postgres_is_named_without_its_password():
    url = "postgresql://runway:hunter2@127.0.0.1:1/runway"
    with pytest.raises(DatabaseUnavailable) as failed:
        await Store.open(url)
    message = str(failed.value)
    assert "postgresql://runway:***@127.0.0.1:1/runway" in message
    assert "hunter2" not in message


async def test_an_unusable_sqlite_path_is_unavailable(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnavailable, match=r"cannot reach the database at sqlite:///"):
        await Store.open(f"sqlite:///{blocker}/runway.db")


async def test_a_database_runway_does_not_speak_is_refused():
    with pytest.raises(DatabaseUnavailable, match=r"mysql://root:\*\*\*@db/x.*postgresql://"):
        await Store.open("mysql://root:pw@db/x")


def test_passwords_are_hidden_wherever_a_url_carries_them():
    assert safe_url("postgresql://u:p%40ss@h:5/d") == "postgresql://u:***@h:5/d"
    assert safe_url("postgresql://u@h/d?password=x&sslmode=require") == (
        "postgresql://u@h/d?password=***&sslmode=require"
    )
    assert safe_url("sqlite:////var/lib/runway/runway.db") == "sqlite:////var/lib/runway/runway.db"


async def test_ready_says_whether_the_database_is_reachable_and_migrated(store_url: str):
    store = await Store.open(store_url)
    assert await store.ready()
    raw = Raw(store_url)
    await raw.execute("UPDATE schema_version SET version = version - 100")
    try:
        assert not await store.ready()
    finally:
        await raw.execute("UPDATE schema_version SET version = version + 100")
    await store.close()
    assert not await store.ready()


# The migrated schema matches tables.py ---------------------------------------------------------


def _tables_ddl(dialect_name: str) -> list[str]:
    dialect = sqlite.dialect() if dialect_name == "sqlite" else postgresql.dialect()
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements += [str(CreateIndex(i).compile(dialect=dialect)) for i in table.indexes]
    return statements


async def _describe(raw: Raw) -> dict[str, object]:
    """Everything the database knows about the schema, in a form two databases can be compared
    by (not the order or spelling of the DDL that made it)."""
    if raw.backend == "sqlite":
        tables = [
            n
            for (n,) in await raw.fetch(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        described: dict[str, object] = {}
        for t in tables:
            sql = (await raw.fetch(f"SELECT sql FROM sqlite_master WHERE name = '{t}'"))[0][0]
            foreign: dict[int, list[tuple[object, ...]]] = {}
            for fid, _seq, ref, col, to, _upd, on_delete, _m in await raw.fetch(
                f"PRAGMA foreign_key_list({t})"
            ):
                foreign.setdefault(fid, []).append((col, ref, to, on_delete))
            indexes = []
            for _seq, name, unique, origin, _partial in await raw.fetch(f"PRAGMA index_list({t})"):
                cols = tuple(c for (_n, _cid, c) in await raw.fetch(f"PRAGMA index_info('{name}')"))
                indexes.append((name if origin == "c" else origin, unique, cols))
            described[t] = {
                "columns": await raw.fetch(f"PRAGMA table_info({t})"),
                "foreign keys": sorted(tuple(v) for v in foreign.values()),
                "indexes": sorted(indexes),
                "autoincrement": "AUTOINCREMENT" in sql,
                "checks": "CHECK (id = 1)" in sql,
            }
        return described
    columns = await raw.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"
    )
    constraints = await raw.fetch(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
    )
    indexes = await raw.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "ORDER BY 1, 2"
    )
    return {"columns": columns, "constraints": constraints, "indexes": indexes}


async def test_the_migrated_schema_matches_tables_py(
    backend: str, fresh_url: str, tmp_path: Path, request: pytest.FixtureRequest
):
    await (await Store.open(fresh_url)).close()
    if backend == "sqlite":
        reference = Raw(sqlite_url(tmp_path / "reference"))
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        reference = Raw(await postgres.new_database())
    await reference.execute(";\n".join(_tables_ddl(backend)))

    migrated, expected = await _describe(Raw(fresh_url)), await _describe(reference)
    assert migrated == expected
    # Sanity: the description sees what matters.
    text = repr(migrated)
    for fact in ("CASCADE", "SET NULL", "login_attempts", "host_claims", "fingerprint"):
        assert fact in text, fact
