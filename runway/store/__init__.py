"""runway's database: every query, on SQLite (the embedded default) or Postgres.

Only this package imports `databases` and SQLAlchemy. Callers get plain records
(`runway.store.records`) and the errors of `runway.store.errors`.
"""

from runway.store.credentials import Credentials
from runway.store.database import safe_url, sqlite_url
from runway.store.deployments import Deployments
from runway.store.environments import Environments, namespace_candidates
from runway.store.errors import (
    AlreadyExists,
    DatabaseUnavailable,
    InvalidCursor,
    NotFound,
    SchemaTooNew,
    StoreError,
)
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
    "InvalidCursor",
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
    "namespace_candidates",
    "safe_url",
    "sqlite_url",
]
