"""What the server is told at start-up (flags, or `RUNWAY_*` environment variables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from runway.auth import LoginLimits, PasswordHasher
from runway.auth.addresses import Network
from runway.deploy import RenderSettings
from runway.deploy.environment_objects import EnvironmentSettings
from runway.executor.run import Limits

SETUP_TOKEN_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class Settings:
    database_url: str
    public_url: str
    """Where people reach this server; monitor URLs, invite links and the Origin check use it."""
    trusted_proxies: tuple[Network, ...] = ()
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    session_lifetime: timedelta = timedelta(days=30)
    api_token_lifetime: timedelta = timedelta(days=365)
    invite_lifetime: timedelta = timedelta(days=7)
    setup_token_lifetime: timedelta = SETUP_TOKEN_LIFETIME
    max_body: int = 1024 * 1024
    render: RenderSettings = field(default_factory=RenderSettings)
    """The installation's ingress class, TLS and storage class: how deployments are rendered,
    and whether an app's URLs are https."""
    environments: EnvironmentSettings = field(default_factory=EnvironmentSettings)
    """What goes into every environment's namespace besides the owner's quota."""
    limits: Limits = field(default_factory=Limits)
    """The executor's limits, its lease timings among them (`--lease-ttl` and the others)."""
    instance: str | None = None
    """This instance's name among those sharing the database (None: the executor makes one)."""
    metrics_token: str | None = None
    """What a scraper of /metrics must send as its bearer token (None: /metrics is open)."""

    def monitor_url(self, deployment_id: int) -> str:
        return f"{self.public_url.rstrip('/')}/ui/deployments/{deployment_id}"
