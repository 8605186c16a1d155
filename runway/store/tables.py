"""The schema as SQLAlchemy Core tables: what the queries are written against.

Migrations do not create tables from this module: each migration's DDL is frozen text in
`migrations.py`, and a test checks that the migrated database matches these tables. Change both
together, through a new migration.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from runway.store.types import JSON, UTCDateTime

metadata = sa.MetaData()

# sqlite_autoincrement: SQLite would reuse the id of a deleted newest row without AUTOINCREMENT;
# an id that was once a user's (and may still sit in a log, a cache or `deployments.created_by`)
# must stay theirs.


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _created() -> sa.Column[datetime]:
    return sa.Column("created_at", UTCDateTime, nullable=False)


def _parent(name: str, table: str, *, nullable: bool = False) -> sa.Column[int]:
    # ON DELETE CASCADE: deleting the parent takes these rows with it.
    fk = sa.ForeignKey(f"{table}.id", ondelete="CASCADE")
    return sa.Column(name, sa.Integer, fk, nullable=nullable)


schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("quota", JSON(), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    _created(),
    sqlite_autoincrement=True,
)

ssh_keys = sa.Table(
    "ssh_keys",
    metadata,
    _id(),
    _parent("user_id", "users"),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False, unique=True),
    _created(),
    sa.Index("ix_ssh_keys_user_id", "user_id"),
    sqlite_autoincrement=True,
)

tokens = sa.Table(
    "tokens",
    metadata,
    _id(),
    _parent("user_id", "users"),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    _created(),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Index("ix_tokens_user_id", "user_id"),
    sqlite_autoincrement=True,
)

invites = sa.Table(
    "invites",
    metadata,
    _id(),
    sa.Column("nonce_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    _parent("created_by", "users"),
    _created(),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.Column("used_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Index("ix_invites_created_by", "created_by"),
    sqlite_autoincrement=True,
)

setup_token = sa.Table(
    "setup_token",
    metadata,
    # At most one row: the installation has one setup token at a time.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("token_hash", sa.Text, nullable=False),
    _created(),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("id = 1", name="ck_setup_token_single"),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    _id(),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_login_attempts_key_at", "key", "at"),
    sa.Index("ix_login_attempts_at", "at"),
    sqlite_autoincrement=True,
)

environments = sa.Table(
    "environments",
    metadata,
    _id(),
    _parent("owner_id", "users"),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("namespace", sa.Text, nullable=False, unique=True),
    sa.Column("on_failure", sa.Text, nullable=False),
    # The number of the environment's latest deployment, taken with UPDATE ... RETURNING.
    sa.Column("last_number", sa.Integer, nullable=False),
    _created(),
    sa.UniqueConstraint("owner_id", "name", name="uq_environments_owner_id_name"),
    sqlite_autoincrement=True,
)

deployments = sa.Table(
    "deployments",
    metadata,
    _id(),
    _parent("environment_id", "environments"),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("app", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("config_text", sa.Text, nullable=False),
    sa.Column("config_format", sa.Text, nullable=False),
    sa.Column("plan", JSON(), nullable=False),
    # Who sent it; no foreign key: the record outlives an admin who deployed for someone else.
    sa.Column("created_by", sa.Integer, nullable=False),
    _created(),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("rollback_of", sa.Integer, sa.ForeignKey("deployments.id", ondelete="SET NULL")),
    # The id of the deployment's latest event, taken with UPDATE ... RETURNING.
    sa.Column("last_event_id", sa.Integer, nullable=False),
    # A cancel asked of whichever instance runs it: written, then signalled (DESIGN.md).
    sa.Column("cancel_requested_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("environment_id", "number", name="uq_deployments_environment_id_number"),
    sa.Index("ix_deployments_environment_id_app_number", "environment_id", "app", "number"),
    sa.Index("ix_deployments_rollback_of", "rollback_of"),
    sqlite_autoincrement=True,
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column(
        "deployment_id",
        sa.Integer,
        sa.ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("deployment_id", "name", name="uq_steps_deployment_id_name"),
    sa.Index("ix_steps_finished_at", "finished_at"),
)

answers = sa.Table(
    "answers",
    metadata,
    sa.Column(
        "deployment_id",
        sa.Integer,
        sa.ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("input", sa.Text, primary_key=True),
    # Non-secret inputs only; a secret's value lives in a Kubernetes Secret, never here.
    sa.Column("value", JSON(none_as_null=True), nullable=True),
    sa.Column("secret_name", sa.Text, nullable=True),
    sa.Column("secret_key", sa.Text, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column(
        "deployment_id",
        sa.Integer,
        sa.ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("data", JSON(), nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column(
        "deployment_id",
        sa.Integer,
        sa.ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

host_claims = sa.Table(
    "host_claims",
    metadata,
    sa.Column("host", sa.Text, primary_key=True),
    _parent("environment_id", "environments"),
    sa.Column("app", sa.Text, nullable=False),
    sa.Index("ix_host_claims_environment_id", "environment_id"),
)

secret_versions = sa.Table(
    "secret_versions",
    metadata,
    sa.Column(
        "environment_id",
        sa.Integer,
        sa.ForeignKey("environments.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("app", sa.Text, primary_key=True),
    sa.Column("input", sa.Text, primary_key=True),
    # The last version handed out for a secret input's Secret `<app>-<input>-<version>`.
    sa.Column("last_version", sa.Integer, nullable=False),
)

restore_points = sa.Table(
    "restore_points",
    metadata,
    sa.Column(
        "deployment_id",
        sa.Integer,
        sa.ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    _parent("environment_id", "environments"),
    sa.Column("app", sa.Text, nullable=False),
    # The deployment's number: restore points are ordered by it.
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("taken_at", UTCDateTime, nullable=False),
    # What each volume was backed up to (runway.store.restore_points.VolumeBackup).
    sa.Column("volumes", JSON(), nullable=False),
    sa.Column("pruned_at", UTCDateTime, nullable=True),
    sa.Index("ix_restore_points_environment_id_app_number", "environment_id", "app", "number"),
)

restore_point_settings = sa.Table(
    "restore_point_settings",
    metadata,
    sa.Column(
        "environment_id",
        sa.Integer,
        sa.ForeignKey("environments.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    # How many restore points of each app the environment keeps (absent: the default).
    sa.Column("kept", sa.Integer, nullable=False),
)
