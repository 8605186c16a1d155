"""The OpenAPI document's component schemas: the shapes of what `/api/v1` answers."""

from __future__ import annotations

from typing import Any

from runway.config.fields import HOST_MAX
from runway.store.hosts import MAX_ALLOWED_DOMAINS

Schema = dict[str, Any]

TIME: Schema = {"type": "string", "format": "date-time"}
_OPT_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
NAME: Schema = {"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 32}
PASSWORD: Schema = {"type": "string", "minLength": 10, "maxLength": 1024}
TEXT: Schema = {"type": "string", "minLength": 1}


SETTINGS: dict[str, Schema] = {
    "allowed_domains": {
        "type": "array",
        "maxItems": MAX_ALLOWED_DOMAINS,
        "items": {"type": "string", "minLength": 1, "maxLength": HOST_MAX + 1},
        "description": "Ingress hosts must equal one of these domains or be a subdomain of "
        "one (blog.example.org under example.org); empty: any host. Hosts claimed already "
        "stay claimed when the list changes.",
    },
    "public_url": {
        "type": "string",
        "maxLength": 2048,
        "description": "Where people reach runway: http(s)://host[:port], no path. Monitor URLs, "
        "invite links and the browser dashboard's Origin check use it.",
    },
    "apps_domain": {
        "type": ["string", "null"],
        "description": "The domain apps' hosts go under; hosts under it may be claimed even "
        "when allowed_domains limits the others.",
    },
    "ingress_class": {
        "type": ["string", "null"],
        "description": "The IngressClass of apps' Ingresses (null: the cluster's default).",
    },
    "tls": {
        "type": ["object", "null"],
        "properties": {"issuer": {"type": "string"}, "secret": {"type": "string"}},
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "description": "Apps' certificates: a cert-manager ClusterIssuer, a TLS Secret present "
        "in every namespace, or null for plain HTTP.",
    },
    "default_quota": {
        "type": ["object", "null"],
        "additionalProperties": {"type": "string"},
        "description": "The quota of owners without their own (null: runway's built-in one).",
    },
    "trusted_proxies": {
        "type": ["array", "null"],
        "items": {"type": "string"},
        "description": "Addresses or networks (CIDR) whose X-Forwarded-For is believed.",
    },
}
"""The installation's settings, as GET /api/v1/settings answers and PATCH takes them (setting
by setting: runway.http.installation)."""


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def strict_object(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _page(item: str) -> Schema:
    return strict_object(
        {
            "items": {"type": "array", "items": ref(item)},
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
    "restore_points_kept": {"type": "integer", "minimum": 1, "maximum": 50},
    "created_at": TIME,
}

_SUMMARY: dict[str, Schema] = {
    "id": {"type": "integer"},
    "number": {"type": "integer"},
    "env": {"type": "string"},
    "owner": {"type": "string"},
    "app": {"type": "string"},
    "status": {"enum": _DEPLOYMENT_STATES},
    "reason": {"type": ["string", "null"]},
    "created_at": TIME,
    "started_at": _OPT_TIME,
    "finished_at": _OPT_TIME,
    "rollback_of": {"type": ["integer", "null"]},
    "monitor_url": {"type": "string", "format": "uri"},
}

SCHEMAS: dict[str, Schema] = {
    "Error": strict_object(
        {
            "error": strict_object(
                {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                }
            )
        }
    ),
    "User": strict_object(
        {
            "name": {"type": "string"},
            "role": {"enum": ["admin", "member"]},
            "disabled": {"type": "boolean"},
            "quota": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": TIME,
        }
    ),
    "Session": strict_object(
        {
            "token": {"type": "string"},
            "expires_at": TIME,
            "user": ref("User"),
            "device": {
                "type": "string",
                "description": "A login's device token: send it as `device` with this "
                "client's next login, and keep it as secret as a password. While it has "
                "failed fewer than 5 times in 15 minutes (the defaults), that login skips "
                "the pause other people's wrong guesses put on the user; the address's limit "
                "still holds. Each login gives a new one; it lasts 180 days, or until the "
                "user's password changes.",
            },
        },
        required=["token", "expires_at", "user"],
    ),
    "Token": strict_object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"enum": ["session", "api", "browser"]},
            "created_at": TIME,
            "expires_at": TIME,
        }
    ),
    "NewToken": strict_object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"enum": ["api"]},
            "created_at": TIME,
            "expires_at": TIME,
            "token": {"type": "string", "description": "Shown this once."},
        }
    ),
    "Key": strict_object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "fingerprint": {"type": "string"},
            "public_key": {"type": "string"},
            "created_at": TIME,
        }
    ),
    "Invite": strict_object(
        {
            "url": {"type": "string", "format": "uri"},
            "token": {"type": "string"},
            "role": {"enum": ["admin", "member"]},
            "expires_at": TIME,
        }
    ),
    "Environment": strict_object(_ENVIRONMENT),
    "EnvironmentDetail": strict_object(
        {
            **_ENVIRONMENT,
            "apps": {
                "type": "array",
                "items": strict_object(
                    {
                        "name": {"type": "string"},
                        "services": {
                            "type": "array",
                            "items": strict_object(
                                {
                                    "name": {"type": "string"},
                                    "kind": {"type": "string"},
                                    "status": {"enum": [*_STEP_STATES, None]},
                                    "deployment": {
                                        "type": "integer",
                                        "description": "The number of the deployment whose "
                                        "step state this is",
                                    },
                                    "urls": {
                                        "type": "array",
                                        "items": {"type": "string", "format": "uri"},
                                    },
                                }
                            ),
                        },
                        "latest_deployment": ref("DeploymentSummary"),
                        "deployments": {
                            "type": "array",
                            "items": ref("DeploymentSummary"),
                            "description": "The app's latest deployments, newest first",
                        },
                    }
                ),
            },
            "restore_points": {
                "type": "array",
                "items": ref("RestorePoint"),
                "description": "The restore points not pruned yet, newest first",
            },
        }
    ),
    "RestorePoint": strict_object(
        {
            "deployment_id": {
                "type": "integer",
                "description": "The deployment whose start took it",
            },
            "number": {"type": "integer"},
            "app": {"type": "string"},
            "taken_at": TIME,
            "volumes": {
                "type": "array",
                "items": strict_object(
                    {
                        "service": {"type": "string"},
                        "volume": {"type": "string"},
                        "method": {"enum": ["snapshot", "copy"]},
                    }
                ),
            },
        }
    ),
    "DeploymentSummary": strict_object(_SUMMARY),
    "Step": strict_object(
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
    "Question": strict_object(
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
    "Deployment": strict_object(
        {
            **_SUMMARY,
            "steps": {"type": "array", "items": ref("Step")},
            "critical_path": {"type": "array", "items": {"type": "string"}},
            "questions": {"type": "array", "items": ref("Question")},
        }
    ),
    "InstallationSettings": strict_object(SETTINGS),
    "RevealedSecret": strict_object(
        {
            "input": {"type": "string"},
            "app": {"type": "string"},
            "value": {"type": "string"},
            "secret": {"type": "string", "description": "The Kubernetes Secret holding it"},
            "deployment": strict_object({"id": {"type": "integer"}, "number": {"type": "integer"}}),
        }
    ),
    "UserPage": _page("User"),
    "TokenPage": _page("Token"),
    "KeyPage": _page("Key"),
    "EnvironmentPage": _page("Environment"),
    "DeploymentPage": _page("DeploymentSummary"),
}
