"""How `runway serve` writes its log: lines for people (`--log-format text`, the default), or
one JSON object per line for a log collector (`--log-format json`, `RUNWAY_LOG_FORMAT=json`):
`time` (UTC, ISO 8601), `level`, `logger`, `message`, then the record's extra fields
(`client`, `method`, `path`, `status`, `duration_ms` of an access line), and `exception` with
the traceback text when there is one.

uvicorn's own loggers go the same way. Extra fields whose names say they hold a secret are
written as `[redacted]`: runway logs none, and a new call that passed one by mistake must
not leak it. (The one secret runway logs on purpose, the setup token, is in its message.)
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(name)s %(levelname)s %(message)s"
REDACTED = "[redacted]"

_SECRET_NAME = re.compile(r"password|passwd|secret|token|authorization|cookie|credential", re.I)
# What every LogRecord has: anything else on a record came through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}

_configured = "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_") or key in entry:
                continue
            entry[key] = REDACTED if _SECRET_NAME.search(key) else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr in `log_format` (one of FORMATS)."""
    global _configured
    if log_format not in FORMATS:
        raise ValueError(f"--log-format: expected one of {', '.join(FORMATS)}, got {log_format!r}")
    _configured = log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def uvicorn_log_config() -> dict[str, Any] | None:
    """What to give uvicorn as `log_config`: its own (coloured lines) for text; None for JSON,
    so that its loggers propagate to the JSON handler instead of writing their own lines."""
    if _configured == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG
