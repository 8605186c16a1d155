"""The JSON shapes of CONTRACT.md, built from store records and plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runway.executor.answers import Resolved
from runway.planner import Plan
from runway.store.records import Deployment, Environment, SshKey, Token, User
from runway.store.restore_points import RestorePoint


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def user_view(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role.value,
        "disabled": user.disabled,
        "quota": dict(user.quota),
        "created_at": iso(user.created_at),
    }


def token_view(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "kind": token.kind.value,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
    }


def key_view(key: SshKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "fingerprint": key.fingerprint,
        "public_key": key.public_key,
        "created_at": iso(key.created_at),
    }


def environment_view(environment: Environment, restore_points_kept: int) -> dict[str, Any]:
    """The environment with its settings (`restore_points_kept`: how many restore points of
    each app it keeps, stored apart from the environment's row)."""
    return {
        "name": environment.name,
        "owner": environment.owner,
        "namespace": environment.namespace,
        "on_failure": environment.on_failure.value,
        "restore_points_kept": restore_points_kept,
        "created_at": iso(environment.created_at),
    }


def restore_point_view(point: RestorePoint) -> dict[str, Any]:
    """A restore point as the dashboard shows it on its deployment: when, and which volumes
    (the backups' own names stay inside runway)."""
    return {
        "deployment_id": point.deployment_id,
        "number": point.number,
        "app": point.app,
        "taken_at": iso(point.taken_at),
        "volumes": [
            {"service": v.service, "volume": v.volume, "method": v.method} for v in point.volumes
        ],
    }


def deployment_summary(deployment: Deployment, monitor_url: str) -> dict[str, Any]:
    """A deployment without its steps and questions (for lists)."""
    return {
        "id": deployment.id,
        "number": deployment.number,
        "env": deployment.env,
        "owner": deployment.owner,
        "app": deployment.app,
        "status": deployment.status.value,
        "reason": deployment.reason,
        "created_at": iso(deployment.created_at),
        "started_at": iso(deployment.started_at),
        "finished_at": iso(deployment.finished_at),
        "rollback_of": deployment.rollback_of,
        "monitor_url": monitor_url,
    }


def deployment_view(
    deployment: Deployment, plan: Plan, answers: Resolved, monitor_url: str
) -> dict[str, Any]:
    """CONTRACT.md's deployment: steps with their states, and every question with who needs it
    and where its answer comes from (`answers`: resolved by runway.executor.answers)."""
    stored = {step.name: step for step in deployment.steps}
    steps = []
    for planned in plan.steps:
        state = stored.get(planned.name)
        steps.append(
            {
                "name": planned.name,
                "kind": planned.kind.value,
                "status": state.status.value if state else "pending",
                "depends_on": list(planned.depends_on),
                "depth": planned.depth,
                "needs": list(planned.needs),
                "asks": list(planned.asks),
                "reason": state.reason if state else None,
                "started_at": iso(state.started_at) if state else None,
                "finished_at": iso(state.finished_at) if state else None,
            }
        )
    questions = []
    for name, spec in plan.config.inputs.items():
        source = answers.sources.get(name)
        question: dict[str, Any] = {
            "name": name,
            "prompt": spec.prompt,
            "description": spec.description,
            "type": spec.type.value,
            "choices": list(spec.choices) or None,
            "pattern": spec.pattern,
            "default": spec.default,
            "generate": spec.generate,
            "needed_by": [s.name for s in plan.steps if name in s.needs],
            "answered": source is not None,
            "source": source.value if source is not None else None,
        }
        if not spec.secret:  # a secret's value never leaves the cluster through the API
            question["value"] = answers.values.get(name)
        questions.append(question)
    return {
        **deployment_summary(deployment, monitor_url),
        "steps": steps,
        "critical_path": list(plan.critical_path),
        "questions": questions,
    }
