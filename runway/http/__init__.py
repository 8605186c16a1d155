"""runway's HTTP API (Starlette): no business rules here, only requests, answers and checks."""

from runway.http.app import create_app
from runway.http.settings import Settings

__all__ = ["Settings", "create_app"]
