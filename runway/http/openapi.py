"""The OpenAPI 3.1 document of `/api/v1`: every route, its request and its answers."""

from __future__ import annotations

from typing import Any

from runway.config.schema import config_schema
from runway.http.openapi_parts import (
    ENV,
    ID,
    NAME_PARAM,
    OWNER,
    PAGE,
    json_content,
    op,
    path_param,
)
from runway.http.openapi_runs import run_paths
from runway.http.openapi_schemas import (
    NAME,
    PASSWORD,
    SCHEMAS,
    SETTINGS,
    TEXT,
    Schema,
    ref,
    strict_object,
)


def _paths() -> dict[str, dict[str, Schema]]:
    credentials = strict_object(
        {
            "username": TEXT,
            "password": TEXT,
            "device": {
                "type": "string",
                "maxLength": 1024,
                "description": "The device token of this client's last login (its answer's "
                "`device`), if any: a valid one of this user skips the user's pause. A "
                "forged, expired or another user's token is ignored.",
            },
        },
        required=["username", "password"],
    )
    account = strict_object({"username": NAME, "password": PASSWORD})
    return {
        "/api/v1/setup": {
            "post": op(
                "Create the first admin with the one-time setup token",
                (201, "The admin, logged in", ref("Session")),
                body=json_content(
                    strict_object(
                        {
                            "setup_token": TEXT,
                            "username": NAME,
                            "password": PASSWORD,
                        }
                    )
                ),
                errors=(401, 409),
                auth=False,
            )
        },
        "/api/v1/sessions": {
            "post": op(
                "Log in: a session token",
                (201, "A token, shown once", ref("Session")),
                body=json_content(credentials),
                errors=(401, 429),
                auth=False,
            )
        },
        "/api/v1/tokens": {
            "get": op("The caller's tokens", (200, "Tokens", ref("TokenPage"))),
            "post": op(
                "A personal API token",
                (201, "The token, shown once", ref("NewToken")),
                body=json_content(
                    strict_object(
                        {
                            "name": TEXT,
                            "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                        },
                        required=["name"],
                    )
                ),
            ),
        },
        "/api/v1/tokens/{id}": {
            "delete": op("Revoke a token", (204, "Revoked", None), errors=(404,), params=(ID,))
        },
        "/api/v1/users": {
            "get": op(
                "Admins: every user",
                (200, "Users", ref("UserPage")),
                errors=(404, 422),
                params=PAGE,
            ),
            "post": op(
                "Admins: create a user",
                (201, "The user", ref("User")),
                body=json_content(
                    strict_object(
                        {**account["properties"], "role": {"enum": ["admin", "member"]}},
                        required=["username", "password"],
                    )
                ),
                errors=(404, 409),
            ),
        },
        "/api/v1/users/me": {
            "get": op("The caller", (200, "The caller", ref("User"))),
            "patch": op(
                "Change the caller's password (other sessions end)",
                (200, "The caller", ref("User")),
                body=json_content(strict_object({"current_password": TEXT, "password": PASSWORD})),
                errors=(403,),
            ),
        },
        "/api/v1/users/me/keys": {
            "get": op("The caller's SSH keys", (200, "Keys", ref("KeyPage"))),
            "post": op(
                "Add an SSH public key (for the dashboard over SSH)",
                (201, "The key", ref("Key")),
                body=json_content(
                    strict_object(
                        {
                            "name": TEXT,
                            "public_key": {"type": "string", "pattern": "^(ssh-|ecdsa-|sk-)"},
                        }
                    )
                ),
                errors=(409,),
            ),
        },
        "/api/v1/users/me/keys/{id}": {
            "delete": op("Remove an SSH key", (204, "Removed", None), errors=(404,), params=(ID,))
        },
        "/api/v1/users/{name}": {
            "patch": op(
                "Admins: disable, change role, set quota",
                (200, "The user", ref("User")),
                body=json_content(
                    strict_object(
                        {
                            "disabled": {"type": "boolean"},
                            "role": {"enum": ["admin", "member"]},
                            "quota": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                        required=[],
                    )
                ),
                errors=(404, 409),
                params=(NAME_PARAM,),
            ),
            "delete": op(
                "Admins: delete a user and all they own",
                (204, "Deleted", None),
                errors=(404, 409),
                params=(NAME_PARAM,),
            ),
        },
        "/api/v1/invites": {
            "post": op(
                "Admins: invite a person (a signed, expiring, single-use link)",
                (201, "The invite", ref("Invite")),
                body=json_content(
                    strict_object(
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
            "post": op(
                "Accept an invite: create the account",
                (201, "The new user, logged in", ref("Session")),
                body=json_content(account),
                errors=(404, 409),
                auth=False,
                params=(path_param("token", {"type": "string"}),),
            )
        },
        "/api/v1/environments": {
            "get": op(
                "Environments",
                (200, "Environments", ref("EnvironmentPage")),
                errors=(404, 422),
                params=(*PAGE, OWNER),
            ),
            "post": op(
                "Create an environment",
                (201, "The environment", ref("Environment")),
                body=json_content(
                    strict_object(
                        {"name": NAME, "on_failure": {"enum": ["manual", "rollback"]}},
                        required=["name"],
                    )
                ),
                errors=(404, 409),
                params=(OWNER,),
                notes={
                    409: "`exists`: the caller has an environment of that name; "
                    "`namespace_not_ours`: its namespace exists in the cluster but was not "
                    "made by runway",
                },
            ),
        },
        "/api/v1/environments/{env}": {
            "get": op(
                "An environment with its apps",
                (200, "The environment", ref("EnvironmentDetail")),
                errors=(404,),
                params=(ENV, OWNER),
            ),
            "patch": op(
                "Change an environment's settings",
                (200, "The environment", ref("Environment")),
                body=json_content(
                    strict_object(
                        {
                            "on_failure": {"enum": ["manual", "rollback"]},
                            "restore_points_kept": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 50,
                                "description": "How many restore points of each app the "
                                "environment keeps (default 3); older ones are pruned after "
                                "the next deployment starts.",
                            },
                        },
                        required=[],
                    )
                ),
                errors=(404,),
                params=(ENV, OWNER),
            ),
            "delete": op(
                "Delete an environment",
                (204, "Deleted", None),
                errors=(404,),
                params=(ENV, OWNER),
            ),
        },
        "/api/v1/environments/{env}/deployments": {
            "get": op(
                "Deployments, newest first",
                (200, "Deployments", ref("DeploymentPage")),
                errors=(404, 422),
                params=(*PAGE, ENV, OWNER),
            ),
            "post": op(
                "Send a configuration: plan and store a deployment",
                (201, "The created deployment", ref("Deployment")),
                body={
                    "content": {
                        "application/yaml": {"schema": {"type": "string"}},
                        "application/json": {"schema": ref("Configuration")},
                    }
                },
                errors=(404, 409),
                params=(ENV, OWNER),
                notes={
                    409: "`host_taken`: a host the configuration exposes is claimed by another "
                    "app (of any user; the answer names nothing of it)",
                    422: "`invalid`: details lists every problem of the configuration; "
                    "`host_not_allowed`: a host is not under the installation's allowed "
                    "domains, which the message lists",
                },
            ),
        },
        "/api/v1/deployments/{id}": {
            "get": op(
                "A deployment with its steps and questions",
                (200, "The deployment", ref("Deployment")),
                errors=(404,),
                params=(ID,),
            )
        },
        **run_paths(),
        "/api/v1/settings": {
            "get": op(
                "Admins: the installation's settings",
                (200, "The settings", ref("InstallationSettings")),
                errors=(404,),
            ),
            "patch": op(
                "Admins: change the installation's settings (what is given)",
                (200, "The settings", ref("InstallationSettings")),
                body=json_content(strict_object(SETTINGS, required=[])),
                errors=(404,),
            ),
        },
        "/api/v1/openapi.json": {
            "get": op("This document", (200, "OpenAPI", {"type": "object"}), auth=False)
        },
        "/api/v1/schema/config": {
            "get": op(
                "The JSON Schema of the configuration format",
                (200, "JSON Schema", {"type": "object"}),
                auth=False,
            )
        },
        "/healthz": {"get": op("Liveness", (200, "Alive", {"type": "object"}), auth=False)},
        "/metrics": {"get": _metrics()},
        "/readyz": {
            "get": op(
                "Readiness: database reachable and migrated",
                (200, "Ready", {"type": "object"}),
                errors=(503,),
                auth=False,
            )
        },
    }


def _metrics() -> Schema:
    """Prometheus's text format; open unless the server has a metrics token (`--metrics-token`),
    which then goes as a bearer token (runway.http.metrics)."""
    operation = op("Prometheus metrics", (200, "", None), errors=(401,), auth=False)
    operation["responses"]["200"] = {
        "description": "The metrics, in Prometheus's text format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    return operation


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
