"""What every handler reaches through the request: settings, the store, the clock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.requests import Request

from runway.auth import InviteSigner
from runway.http.settings import Settings
from runway.planner import Plan
from runway.store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Built by create_app; one per application."""

    settings: Settings
    store: Store
    now: Callable[[], datetime] = field(default=utc_now)
    signer: InviteSigner | None = None
    """Made on first use from the installation's key in the database."""
    plans: OrderedDict[int, Plan] = field(default_factory=OrderedDict)
    """Stored plans already read, by deployment id, least recently used first."""


def context(request: Request) -> Context:
    found = request.app.state.runway
    assert isinstance(found, Context)
    return found
