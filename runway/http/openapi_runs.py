"""The OpenAPI operations of running deployments: start, cancel, answers, events, logs, and
revealing a secret."""

from __future__ import annotations

from runway.http.openapi_parts import ENV, ID, OWNER, json_content, op, path_param, query
from runway.http.openapi_schemas import NAME, Schema, ref, strict_object

_CONFLICT = (
    "`conflict`: not allowed from the deployment's current status (the message names it and "
    "what it can become), or another deployment of the app is active (details name it)"
)
_UNAVAILABLE = "`cluster_unavailable`: no cluster is configured, or it does not answer"
_STEP = path_param("step", {"type": "string"})
_APP = path_param("app", NAME)
_FOLLOW = query("follow", {"enum": ["0", "1", "true", "false"]}, "1: keep streaming.")
_TAIL = query(
    "tail", {"type": "integer", "minimum": 0, "maximum": 100000}, "Each container's last N lines."
)
_LAST_EVENT_ID = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"},
    "description": "Resume after this event id.",
}


def _streamed(operation: Schema, media_type: str, description: str) -> Schema:
    """`operation` with a streamed 200 answer of `media_type` in place of JSON."""
    operation["responses"]["200"] = {
        "description": description,
        "content": {media_type: {"schema": {"type": "string"}}},
    }
    return operation


def _rollback(deployment: tuple[int, str, Schema]) -> Schema:
    """The dry run (200) without `confirm`; the rollback deployment (201) with it."""
    operation = op(
        "Roll a deployment back: the dry run, or with confirm the rollback itself",
        (
            200,
            "The dry run: what changes, which volumes go back to when, what data is lost",
            {"type": "object"},
        ),
        body=json_content(
            strict_object({"confirm": {"type": "string", "maxLength": 200}}, required=[])
        ),
        errors=(404, 409, 503),
        params=(ID,),
        notes={
            409: "`rollback_refused`: no earlier success, another deployment of the app is "
            "active, or a restore point is missing (the message says which)",
            422: "`invalid`: confirm is not the environment's name",
            503: _UNAVAILABLE,
        },
    )
    operation["requestBody"]["required"] = False
    schema = deployment[2]
    operation["responses"]["201"] = {
        "description": "The rollback deployment (rollback_of: id), started",
        "content": {"application/json": {"schema": schema}},
    }
    return operation


def run_paths() -> dict[str, dict[str, Schema]]:
    """Starting, cancelling, answering and watching deployments; logs; revealing secrets."""
    deployment = (200, "The deployment", ref("Deployment"))
    answers = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {
            "anyOf": [
                {"type": ["string", "integer", "boolean"]},
                strict_object({"generate": {"const": True}}),
            ]
        },
        "description": 'Answers by input name; {"generate": true} for a secret input with '
        "`generate`.",
    }
    return {
        "/api/v1/deployments/{id}/start": {
            "post": op(
                "Start a created deployment",
                deployment,
                errors=(404, 409, 503),
                params=(ID,),
                notes={409: _CONFLICT, 503: f"{_UNAVAILABLE}; the deployment stays created"},
            )
        },
        "/api/v1/deployments/{id}/cancel": {
            "post": op(
                "Cancel a created, running or waiting deployment",
                deployment,
                errors=(404, 409),
                params=(ID,),
                notes={409: _CONFLICT},
            )
        },
        "/api/v1/deployments/{id}/rollback": {"post": _rollback(deployment)},
        "/api/v1/deployments/{id}/inputs": {
            "post": op(
                "Answer inputs (secret values go straight into Kubernetes Secrets)",
                deployment,
                body=json_content(answers),
                errors=(404, 409, 503),
                params=(ID,),
                notes={
                    409: "`conflict`: the deployment no longer takes answers",
                    422: "`invalid`: details lists every answer refused, by input name",
                    503: f"{_UNAVAILABLE} (needed for secret answers)",
                },
            )
        },
        "/api/v1/deployments/{id}/events": {
            "get": _streamed(
                op(
                    "The deployment's events as Server-Sent Events",
                    (200, "", None),
                    errors=(404, 422),
                    params=(ID, _LAST_EVENT_ID),
                ),
                "text/event-stream",
                "Events from 1 (or after Last-Event-ID), until the deployment is final",
            )
        },
        "/api/v1/deployments/{id}/steps/{step}/logs": {
            "get": _streamed(
                op(
                    "A step's container logs, live from the cluster",
                    (200, "", None),
                    errors=(404, 422, 503),
                    params=(ID, _STEP, _FOLLOW, _TAIL),
                    notes={503: _UNAVAILABLE},
                ),
                "text/plain",
                "The log lines",
            )
        },
        "/api/v1/environments/{env}/apps/{app}/services/{service}/logs": {
            "get": _streamed(
                op(
                    "A service's container logs, live from the cluster",
                    (200, "", None),
                    errors=(404, 422, 503),
                    params=(
                        ENV,
                        _APP,
                        path_param("service", NAME),
                        _FOLLOW,
                        _TAIL,
                        OWNER,
                    ),
                    notes={503: _UNAVAILABLE},
                ),
                "text/plain",
                "The log lines",
            )
        },
        "/api/v1/environments/{env}/apps/{app}/secrets/{input}/reveal": {
            "post": op(
                "The owner reads a secret input's value (recorded as a reveal event)",
                (200, "The value", ref("RevealedSecret")),
                errors=(404, 503),
                params=(
                    ENV,
                    _APP,
                    path_param("input", {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"}),
                    OWNER,
                ),
                notes={503: _UNAVAILABLE},
            )
        },
    }
