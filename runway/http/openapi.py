"""The OpenAPI 3.1 document of `/api/v1`: every route, its request and its answers."""

from __future__ import annotations

from typing import Any

from runway.config.schema import config_schema

Schema = dict[str, Any]

_TIME: Schema = {"type": "string", "format": "date-time"}
_OPT_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
_NAME: Schema = {"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 32}
_PASSWORD: Schema = {"type": "string", "minLength": 10, "maxLength": 1024}
_TEXT: Schema = {"type": "string", "minLength": 1}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _page(item: str) -> Schema:
    return _object(
        {
            "items": {"type": "array", "items": _ref(item)},
            "next_cursor": {"type": ["string", "null"]},
        }
    )


_STEP_STATES = [
    "pending", "waiting_for_input", "applying", "waiting_ready",
    "succeeded", "failed", "skipped", "cancelled",
]  # fmt: skip
_DEPLOYMENT_STATES = [
    "created", "running", "waiting_for_input", "succeeded", "failed", "cancelled", "superseded",
]  # fmt: skip

_QUESTION_REQUIRED = [
    "name", "prompt", "description", "type", "choices", "pattern", "default",
    "generate", "needed_by", "answered", "source",
]  # fmt: skip

_ENVIRONMENT: dict[str, Schema] = {
    "name": {"type": "string"},
    "owner": {"type": "string"},
    "namespace": {"type": "string"},
    "on_failure": {"enum": ["manual", "rollback"]},
    "created_at": _TIME,
}

_SUMMARY: dict[str, Schema] = {
    "id": {"type": "integer"},
    "number": {"type": "integer"},
    "env": {"type": "string"},
    "owner": {"type": "string"},
    "app": {"type": "string"},
    "status": {"enum": _DEPLOYMENT_STATES},
    "reason": {"type": ["string", "null"]},
    "created_at": _TIME,
    "started_at": _OPT_TIME,
    "finished_at": _OPT_TIME,
    "rollback_of": {"type": ["integer", "null"]},
    "monitor_url": {"type": "string", "format": "uri"},
}

SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                }
            )
        }
    ),
    "User": _object(
        {
            "name": {"type": "string"},
            "role": {"enum": ["admin", "member"]},
            "disabled": {"type": "boolean"},
            "quota": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": _TIME,
        }
    ),
    "Session": _object({"token": {"type": "string"}, "expires_at": _TIME, "user": _ref("User")}),
    "Token": _object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"enum": ["session", "api", "browser"]},
            "created_at": _TIME,
            "expires_at": _TIME,
        }
    ),
    "NewToken": _object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"enum": ["api"]},
            "created_at": _TIME,
            "expires_at": _TIME,
            "token": {"type": "string", "description": "Shown this once."},
        }
    ),
    "Key": _object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "fingerprint": {"type": "string"},
            "public_key": {"type": "string"},
            "created_at": _TIME,
        }
    ),
    "Invite": _object(
        {
            "url": {"type": "string", "format": "uri"},
            "token": {"type": "string"},
            "role": {"enum": ["admin", "member"]},
            "expires_at": _TIME,
        }
    ),
    "Environment": _object(_ENVIRONMENT),
    "EnvironmentDetail": _object(
        {
            **_ENVIRONMENT,
            "apps": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string"},
                        "services": {
                            "type": "array",
                            "items": _object(
                                {
                                    "name": {"type": "string"},
                                    "kind": {"type": "string"},
                                    "status": {"enum": [*_STEP_STATES, None]},
                                }
                            ),
                        },
                        "latest_deployment": _ref("DeploymentSummary"),
                    }
                ),
            },
        }
    ),
    "DeploymentSummary": _object(_SUMMARY),
    "Step": _object(
        {
            "name": {"type": "string"},
            "kind": {"enum": ["service", "job", "backup", "restore"]},
            "status": {"enum": _STEP_STATES},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "depth": {"type": "integer"},
            "needs": {"type": "array", "items": {"type": "string"}},
            "asks": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": ["string", "null"]},
            "started_at": _OPT_TIME,
            "finished_at": _OPT_TIME,
        }
    ),
    "Question": _object(
        {
            "name": {"type": "string"},
            "prompt": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "type": {"enum": ["string", "secret", "integer", "boolean", "choice"]},
            "choices": {"type": ["array", "null"], "items": {"type": "string"}},
            "pattern": {"type": ["string", "null"]},
            "default": {"type": ["string", "integer", "boolean", "null"]},
            "generate": {"type": ["integer", "null"]},
            "needed_by": {"type": "array", "items": {"type": "string"}},
            "answered": {"type": "boolean"},
            "source": {"enum": ["answer", "reused", "default", None]},
            "value": {
                "type": ["string", "integer", "boolean", "null"],
                "description": "Absent for secret inputs.",
            },
        },
        required=_QUESTION_REQUIRED,
    ),
    "Deployment": _object(
        {
            **_SUMMARY,
            "steps": {"type": "array", "items": _ref("Step")},
            "critical_path": {"type": "array", "items": {"type": "string"}},
            "questions": {"type": "array", "items": _ref("Question")},
        }
    ),
    "UserPage": _page("User"),
    "TokenPage": _page("Token"),
    "KeyPage": _page("Key"),
    "EnvironmentPage": _page("Environment"),
    "DeploymentPage": _page("DeploymentSummary"),
}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _answer(description: str, schema: Schema | None = None) -> Schema:
    return {"description": description, **(_json(schema) if schema else {})}


_ERROR = _ref("Error")


def _op(
    summary: str,
    ok: tuple[int, str, Schema | None],
    *,
    body: Schema | None = None,
    errors: tuple[int, ...] = (),
    auth: bool = True,
    params: tuple[Schema, ...] = (),
) -> Schema:
    status, description, schema = ok
    responses: dict[str, Schema] = {str(status): _answer(description, schema)}
    refusals = {
        400: "Malformed request",
        401: "No valid bearer token" if auth else "Wrong credentials",
        403: "Refused",
        404: "Not found (or not yours)",
        409: "Conflict",
        413: "Body too large",
        415: "Wrong content type",
        422: "Invalid content; details lists every problem",
        429: "Too many attempts",
        503: "Not ready",
    }
    codes = set(errors) | ({401} if auth else set()) | ({400, 413, 415, 422} if body else set())
    for code in sorted(codes):
        responses[str(code)] = _answer(refusals[code], _ERROR)
    operation: Schema = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, **body}
    if params:
        operation["parameters"] = list(params)
    operation["security"] = [{"bearer": []}] if auth else []
    return operation


def _path_param(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_PAGE = (
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size (default 50)."),
    _query("cursor", {"type": "string"}, "next_cursor of the previous page."),
)
_OWNER = _query("owner", {"type": "string"}, "Admins: another user's environments.")
_ENV = _path_param("env", _NAME)
_ID = _path_param("id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
_NAME_PARAM = _path_param("name", _NAME)


def _paths() -> dict[str, dict[str, Schema]]:
    credentials = _object({"username": _TEXT, "password": _TEXT})
    account = _object({"username": _NAME, "password": _PASSWORD})
    return {
        "/api/v1/setup": {
            "post": _op(
                "Create the first admin with the one-time setup token",
                (201, "The admin, logged in", _ref("Session")),
                body=_json(
                    _object(
                        {
                            "setup_token": _TEXT,
                            "username": _NAME,
                            "password": _PASSWORD,
                        }
                    )
                ),
                errors=(401, 409),
                auth=False,
            )
        },
        "/api/v1/sessions": {
            "post": _op(
                "Log in: a session token",
                (201, "A token, shown once", _ref("Session")),
                body=_json(credentials),
                errors=(401, 429),
                auth=False,
            )
        },
        "/api/v1/tokens": {
            "get": _op("The caller's tokens", (200, "Tokens", _ref("TokenPage"))),
            "post": _op(
                "A personal API token",
                (201, "The token, shown once", _ref("NewToken")),
                body=_json(
                    _object(
                        {
                            "name": _TEXT,
                            "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                        },
                        required=["name"],
                    )
                ),
            ),
        },
        "/api/v1/tokens/{id}": {
            "delete": _op("Revoke a token", (204, "Revoked", None), errors=(404,), params=(_ID,))
        },
        "/api/v1/users": {
            "get": _op(
                "Admins: every user",
                (200, "Users", _ref("UserPage")),
                errors=(404, 422),
                params=_PAGE,
            ),
            "post": _op(
                "Admins: create a user",
                (201, "The user", _ref("User")),
                body=_json(
                    _object(
                        {**account["properties"], "role": {"enum": ["admin", "member"]}},
                        required=["username", "password"],
                    )
                ),
                errors=(404, 409),
            ),
        },
        "/api/v1/users/me": {
            "get": _op("The caller", (200, "The caller", _ref("User"))),
            "patch": _op(
                "Change the caller's password (other sessions end)",
                (200, "The caller", _ref("User")),
                body=_json(_object({"current_password": _TEXT, "password": _PASSWORD})),
                errors=(403,),
            ),
        },
        "/api/v1/users/me/keys": {
            "get": _op("The caller's SSH keys", (200, "Keys", _ref("KeyPage"))),
            "post": _op(
                "Add an SSH public key (for the dashboard over SSH)",
                (201, "The key", _ref("Key")),
                body=_json(
                    _object(
                        {
                            "name": _TEXT,
                            "public_key": {"type": "string", "pattern": "^(ssh-|ecdsa-|sk-)"},
                        }
                    )
                ),
                errors=(409,),
            ),
        },
        "/api/v1/users/me/keys/{id}": {
            "delete": _op("Remove an SSH key", (204, "Removed", None), errors=(404,), params=(_ID,))
        },
        "/api/v1/users/{name}": {
            "patch": _op(
                "Admins: disable, change role, set quota",
                (200, "The user", _ref("User")),
                body=_json(
                    _object(
                        {
                            "disabled": {"type": "boolean"},
                            "role": {"enum": ["admin", "member"]},
                            "quota": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                        required=[],
                    )
                ),
                errors=(404, 409),
                params=(_NAME_PARAM,),
            ),
            "delete": _op(
                "Admins: delete a user and all they own",
                (204, "Deleted", None),
                errors=(404, 409),
                params=(_NAME_PARAM,),
            ),
        },
        "/api/v1/invites": {
            "post": _op(
                "Admins: invite a person (a signed, expiring, single-use link)",
                (201, "The invite", _ref("Invite")),
                body=_json(
                    _object(
                        {
                            "role": {"enum": ["admin", "member"]},
                            "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 30},
                        },
                        required=[],
                    )
                ),
                errors=(404,),
            )
        },
        "/api/v1/invites/{token}": {
            "post": _op(
                "Accept an invite: create the account",
                (201, "The new user, logged in", _ref("Session")),
                body=_json(account),
                errors=(404, 409),
                auth=False,
                params=(_path_param("token", {"type": "string"}),),
            )
        },
        "/api/v1/environments": {
            "get": _op(
                "Environments",
                (200, "Environments", _ref("EnvironmentPage")),
                errors=(404, 422),
                params=(*_PAGE, _OWNER),
            ),
            "post": _op(
                "Create an environment",
                (201, "The environment", _ref("Environment")),
                body=_json(
                    _object(
                        {"name": _NAME, "on_failure": {"enum": ["manual", "rollback"]}},
                        required=["name"],
                    )
                ),
                errors=(404, 409),
                params=(_OWNER,),
            ),
        },
        "/api/v1/environments/{env}": {
            "get": _op(
                "An environment with its apps",
                (200, "The environment", _ref("EnvironmentDetail")),
                errors=(404,),
                params=(_ENV, _OWNER),
            ),
            "patch": _op(
                "Change an environment's settings",
                (200, "The environment", _ref("Environment")),
                body=_json(_object({"on_failure": {"enum": ["manual", "rollback"]}}, required=[])),
                errors=(404,),
                params=(_ENV, _OWNER),
            ),
            "delete": _op(
                "Delete an environment",
                (204, "Deleted", None),
                errors=(404,),
                params=(_ENV, _OWNER),
            ),
        },
        "/api/v1/environments/{env}/deployments": {
            "get": _op(
                "Deployments, newest first",
                (200, "Deployments", _ref("DeploymentPage")),
                errors=(404, 422),
                params=(*_PAGE, _ENV, _OWNER),
            ),
            "post": _op(
                "Send a configuration: plan and store a deployment",
                (201, "The created deployment", _ref("Deployment")),
                body={
                    "content": {
                        "application/yaml": {"schema": {"type": "string"}},
                        "application/json": {"schema": _ref("Configuration")},
                    }
                },
                errors=(404,),
                params=(_ENV, _OWNER),
            ),
        },
        "/api/v1/deployments/{id}": {
            "get": _op(
                "A deployment with its steps and questions",
                (200, "The deployment", _ref("Deployment")),
                errors=(404,),
                params=(_ID,),
            )
        },
        "/api/v1/openapi.json": {
            "get": _op("This document", (200, "OpenAPI", {"type": "object"}), auth=False)
        },
        "/api/v1/schema/config": {
            "get": _op(
                "The JSON Schema of the configuration format",
                (200, "JSON Schema", {"type": "object"}),
                auth=False,
            )
        },
        "/healthz": {"get": _op("Liveness", (200, "Alive", {"type": "object"}), auth=False)},
        "/readyz": {
            "get": _op(
                "Readiness: database reachable and migrated",
                (200, "Ready", {"type": "object"}),
                errors=(503,),
                auth=False,
            )
        },
    }


def _configuration_schemas() -> dict[str, Schema]:
    """The configuration's JSON Schema as components: its `$defs` become `Config<Name>` so every
    `$ref` resolves inside this document."""
    schema = config_schema()
    definitions = schema.pop("$defs")
    schema.pop("$schema", None)
    names = {
        f"#/$defs/{name}": f"#/components/schemas/Config{name.title()}" for name in definitions
    }

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: names.get(value, value) if key == "$ref" else rewrite(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    found = {"Configuration": rewrite(schema)}
    found.update((f"Config{name.title()}", rewrite(part)) for name, part in definitions.items())
    return found


def openapi_document(public_url: str) -> Schema:
    """The document, with `public_url` as the server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runway",
            "version": "1",
            "description": "Deployments onto a shared Kubernetes cluster. Authenticate with "
            "`Authorization: Bearer TOKEN` (POST /api/v1/sessions gives one).",
        },
        "servers": [{"url": public_url}],
        "paths": _paths(),
        "components": {
            "schemas": {**SCHEMAS, **_configuration_schemas()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
