"""A server that always answers the same (httpx.MockTransport), for the SVG snapshots: fixed
ids, times and reasons, so a snapshot changes only when the screen does. The shapes are the
real server's (CONTRACT.md, Shapes), copied from its answers."""

from __future__ import annotations

import json
from typing import Any

import httpx

from runway.client import Client
from runway.tui import Dashboard, make_dashboard

URL = "http://runway.test"
CREATED = "2026-11-28T10:34:34.406799Z"


def _step(name: str, kind: str, status: str, after: list[str], depth: int, **more: Any) -> Any:
    return {
        "name": name, "kind": kind, "status": status, "depends_on": after, "depth": depth,
        "needs": [], "asks": [], "reason": None, "started_at": None, "finished_at": None, **more,
    }  # fmt: skip


def _question(name: str, prompt: str, kind: str = "string", **more: Any) -> Any:
    return {
        "name": name, "prompt": prompt, "description": None, "type": kind, "choices": None,
        "pattern": None, "default": None, "generate": None, "needed_by": ["web"],
        "answered": False, "source": None, "value": None, **more,
    }  # fmt: skip


def _deployment(ident: int, app: str, status: str, **more: Any) -> dict[str, Any]:
    return {
        "id": ident, "number": ident, "env": "staging", "owner": "ann", "app": app,
        "status": status, "reason": None, "created_at": CREATED, "started_at": None,
        "finished_at": None, "rollback_of": None,
        "monitor_url": f"{URL}/ui/deployments/{ident}", "steps": [], "critical_path": [],
        "questions": [], **more,
    }  # fmt: skip


BLOG = _deployment(
    1,
    "blog",
    "created",
    steps=[
        _step("db", "service", "pending", [], 0),
        _step("migrate", "job", "pending", ["db"], 1),
        _step("web", "service", "pending", ["migrate", "db"], 2),
        _step("worker", "service", "pending", ["migrate", "db"], 2),
    ],
    critical_path=["db", "migrate", "web"],
    questions=[
        _question(
            "domain", "Public host name of the blog", pattern="^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"
        ),
        _question("admin_email", "E-mail address of the first administrator"),
        _question(
            "db_password",
            "Password of the blog's database user",
            "secret",
            generate=24,
            needed_by=["db", "migrate", "web", "worker"],
        ),
        _question(
            "theme",
            "Colour theme",
            "choice",
            choices=["light", "dark"],
            default="light",
            answered=True,
            source="default",
            value="light",
        ),
        _question("replicas", "Web replicas", "integer", answered=True, source="reused", value=2),
        _question("debug", "Debug logging", "boolean"),
    ],
)

REASON = "the image ghcr.io/example/hello:pullfail cannot be pulled: manifest unknown"
BROKEN = _deployment(
    2,
    "broken",
    "failed",
    reason=f"step web failed: {REASON}",
    started_at="2026-11-28T10:35:00.000000Z",
    finished_at="2026-11-28T10:35:04.500000Z",
    steps=[
        _step(
            "web",
            "service",
            "failed",
            [],
            0,
            reason=REASON,
            started_at="2026-11-28T10:35:00.100000Z",
            finished_at="2026-11-28T10:35:04.400000Z",
        ),
        _step("cache", "service", "skipped", ["web"], 1),
    ],
    critical_path=["web", "cache"],
)

DEPLOYMENTS = {1: BLOG, 2: BROKEN}
SUMMARY_KEYS = ("id", "number", "env", "owner", "app", "status", "reason", "created_at")


def _summary(found: dict[str, Any]) -> dict[str, Any]:
    return {k: found[k] for k in SUMMARY_KEYS}


ENVIRONMENTS = [
    {"name": "production", "owner": "ann", "namespace": "rw-ann-production",
     "on_failure": "rollback", "created_at": CREATED, "apps": []},
    {"name": "staging", "owner": "ann", "namespace": "rw-ann-staging", "on_failure": "manual",
     "created_at": CREATED,
     "apps": [
         {"name": "blog", "services": [], "latest_deployment": _summary(BLOG), "deployments": []},
         {"name": "broken", "services": [], "latest_deployment": _summary(BROKEN),
          "deployments": []},
     ]},
]  # fmt: skip


def _events(ident: int, after: int) -> str:
    found = DEPLOYMENTS[ident]
    events = [{"type": "deployment", "status": "created"}]
    if found["status"] == "failed":
        events += [
            {"type": "deployment", "status": "running"},
            {"type": "step", "step": "web", "status": "applying"},
            {"type": "step", "step": "web", "status": "failed", "reason": REASON},
            {"type": "step", "step": "cache", "status": "skipped"},
            {"type": "deployment", "status": "failed", "reason": found["reason"]},
        ]
    lines = []
    for number, event in enumerate(events, 1):
        if number > after:
            data = {"id": number, "at": CREATED, **event}
            lines.append(f"id: {number}\nevent: {event['type']}\ndata: {json.dumps(data)}\n\n")
    return "".join(lines)


def answer(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/api/v1/environments":
        items = [{k: v for k, v in e.items() if k != "apps"} for e in ENVIRONMENTS]
        return httpx.Response(200, json={"items": items, "next_cursor": None})
    if path.startswith("/api/v1/environments/"):
        name = path.split("/")[4]
        env = next(e for e in ENVIRONMENTS if e["name"] == name)
        if path.endswith("/deployments"):
            mine = [_summary(d) for d in DEPLOYMENTS.values() if d["env"] == name]
            return httpx.Response(200, json={"items": mine[::-1], "next_cursor": None})
        return httpx.Response(200, json=env)
    if path.startswith("/api/v1/deployments/"):
        ident = int(path.split("/")[4])
        if path.endswith("/events"):
            after = int(request.headers.get("Last-Event-ID") or 0)
            return httpx.Response(
                200,
                text=_events(ident, after),
                headers={"Content-Type": "text/event-stream"},
            )
        return httpx.Response(200, json=DEPLOYMENTS[ident])
    return httpx.Response(404, json={"error": {"code": "not_found", "message": path}})


def canned_client(url: str, token: str | None) -> Client:
    return Client(url, token, transport=httpx.MockTransport(answer))


def canned_dashboard(open_deployment: int | None = None) -> Dashboard:
    return make_dashboard(
        URL, "rw_canned", client_factory=canned_client, open_deployment=open_deployment
    )
