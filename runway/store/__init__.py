"""runway's database: every query, on SQLite (the embedded default) or Postgres.

Only this package imports SQLAlchemy and the database drivers. Callers get plain records
(`runway.store.records`) and the errors of `runway.store.errors`.
"""

from runway.store.credentials import Credentials
from runway.store.database import safe_url, sqlite_url
from runway.store.deployments import Deployments
from runway.store.environments import Environments, namespace_candidates
from runway.store.errors import (
    AlreadyExists,
    DatabaseUnavailable,
    HostNotAllowed,
    HostTaken,
    InvalidCursor,
    InvalidHost,
    NotFound,
    SchemaTooNew,
    StoreError,
)
from runway.store.hosts import HostClaims, host_allowed, normalise_host
from runway.store.migrations import LATEST as SCHEMA_VERSION
from runway.store.records import (
    Answer,
    Deployment,
    DeploymentStatus,
    Environment,
    Event,
    Invite,
    OnFailure,
    Role,
    SshKey,
    Step,
    StepStatus,
    Token,
    TokenKind,
    User,
)
from runway.store.store import Store
from runway.store.users import Users

__all__ = [
    "SCHEMA_VERSION",
    "AlreadyExists",
    "Answer",
    "Credentials",
    "DatabaseUnavailable",
    "Deployment",
    "DeploymentStatus",
    "Deployments",
    "Environment",
    "Environments",
    "Event",
    "HostClaims",
    "HostNotAllowed",
    "HostTaken",
    "InvalidCursor",
    "InvalidHost",
    "Invite",
    "NotFound",
    "OnFailure",
    "Role",
    "SchemaTooNew",
    "SshKey",
    "Step",
    "StepStatus",
    "Store",
    "StoreError",
    "Token",
    "TokenKind",
    "User",
    "Users",
    "host_allowed",
    "namespace_candidates",
    "normalise_host",
    "safe_url",
    "sqlite_url",
]
