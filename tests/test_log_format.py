"""`runway serve --log-format json`: one JSON object per line, uvicorn's lines and the access
log included, with no secret in them; and the formatter on its own."""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path

import httpx
import pytest

from runway.cli import _parser
from runway.cli.log_format import REDACTED, JsonFormatter, configure
from tests.test_serve import serving


def lines_of(text: str) -> list[dict[str, object]]:
    """Every line of the log as JSON (each must be one object)."""
    found = []
    for line in text.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        found.append(entry)
    return found


def test_a_json_server_writes_one_object_per_line(tmp_path: Path):
    with serving(tmp_path / "data", tmp_path / "serve.log", "--log-format", "json") as server:
        httpx.get(f"{server.url}/api/v1/invites/secret-invite-nonce-123")
        httpx.get(f"{server.url}/healthz")
        server.stop(signal.SIGTERM)
    entries = lines_of(server.output())
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    loggers = {e["logger"] for e in entries}
    assert "uvicorn.error" in loggers, loggers  # uvicorn's own lines, as JSON too
    access = [e for e in entries if e["logger"] == "runway.access"]
    assert {e["path"] for e in access} >= {"/healthz", "/api/v1/invites/…"}, access
    health = next(e for e in access if e["path"] == "/healthz")
    assert health["status"] == 200 and health["method"] == "GET"
    assert isinstance(health["duration_ms"], float)
    assert "secret-invite-nonce-123" not in server.output()
    tokens = [e for e in entries if "One-time setup token" in str(e["message"])]
    assert len(tokens) == 1  # the one secret runway logs, by design (DESIGN.md, Security)


def test_the_environment_chooses_json_too(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RUNWAY_LOG_FORMAT", "json")
    assert _parser().parse_args(["serve"]).log_format == "json"
    monkeypatch.delenv("RUNWAY_LOG_FORMAT")
    assert _parser().parse_args(["serve"]).log_format == "text"


def record(**extra: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "runway.test", logging.WARNING, __file__, 1, "hello %s", ("ann",), None
    )
    made.__dict__.update(extra)
    return made


def test_extra_fields_are_kept_and_secret_ones_redacted():
    entry = json.loads(
        JsonFormatter().format(record(deployment=7, db_password="hunter22", api_token="rw_x"))
    )
    assert entry["message"] == "hello ann"
    assert entry["level"] == "warning" and entry["logger"] == "runway.test"
    assert entry["deployment"] == 7
    assert entry["db_password"] == REDACTED and entry["api_token"] == REDACTED
    assert entry["time"].endswith("+00:00")


def test_an_exception_is_one_field_of_one_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        with_error = record()
        with_error.exc_info = sys.exc_info()
    text = JsonFormatter().format(with_error)
    assert "\n" not in text
    assert "RuntimeError: boom" in json.loads(text)["exception"]


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="--log-format"):
        configure("yaml")
