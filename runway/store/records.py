"""What the store hands out: plain frozen records, no database types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """`admin` users manage users, invites and installation settings; `member` users their own
    environments only."""

    ADMIN = "admin"
    MEMBER = "member"


class TokenKind(StrEnum):
    """What a bearer token or cookie was issued for."""

    SESSION = "session"
    """`POST /api/v1/sessions`: a login of the CLI or the dashboard."""
    API = "api"
    """A personal API token made by its owner (`POST /api/v1/tokens`)."""
    BROWSER = "browser"
    """The served dashboard's session, in an HttpOnly cookie."""


class DeploymentStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    WAITING_FOR_INPUT = "waiting_for_input"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


class StepStatus(StrEnum):
    PENDING = "pending"
    WAITING_FOR_INPUT = "waiting_for_input"
    APPLYING = "applying"
    WAITING_READY = "waiting_ready"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class OnFailure(StrEnum):
    MANUAL = "manual"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    quota: dict[str, str] = field(default_factory=dict)
    """Kubernetes quantities by resource (`requests.cpu: "4"`); empty: the default quota."""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token's record (its value is never stored, only its hash)."""

    id: int
    user_id: int
    kind: TokenKind
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SshKey:
    id: int
    user_id: int
    name: str
    public_key: str
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Invite:
    id: int
    role: Role
    created_by: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Environment:
    id: int
    owner_id: int
    owner: str
    name: str
    namespace: str
    on_failure: OnFailure
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    position: int
    kind: str
    status: StepStatus
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    id: int
    environment_id: int
    env: str
    owner: str
    number: int
    app: str
    status: DeploymentStatus
    created_by: int
    created_at: datetime
    config_text: str
    config_format: str
    plan: dict[str, Any]
    """The plan document (runway.planner.plan_to_document) as stored."""
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rollback_of: int | None = None
    steps: tuple[Step, ...] = ()
    cancel_requested_at: datetime | None = None
    """When someone asked to cancel it while it ran (on whichever instance)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer to an input: a non-secret value, or where a secret value lives in Kubernetes."""

    input: str
    source: str
    value: Any = None
    secret_name: str | None = None
    secret_key: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    deployment_id: int
    id: int
    """Contiguous from 1 per deployment, assigned in the transaction that stores the event."""
    at: datetime
    type: str
    data: dict[str, Any]
