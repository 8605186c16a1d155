"""Answers to a deployment's inputs (`POST /api/v1/deployments/{id}/inputs`).

Each answer is checked against its input (type, pattern, choices: runway.config.answers); every
problem is listed with its input's name. `{NAME: {"generate": true}}` asks runway to make the
value of a secret input that says `generate: N`: N characters from the `secrets` module. A
secret value goes straight into its own immutable Kubernetes Secret (versioned by the store's
counter, runway.store.secret_versions) and only the Secret's name and key are stored; it
appears in no answer, event, log line or error. Each answer is an `answer` event naming the
input, then the executor is told, so steps waiting for it go on.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway.config.answers import AnswerError, check_answer
from runway.config.model import Answer as Value
from runway.config.model import Input
from runway.config.suggest import did_you_mean
from runway.deploy.input_secrets import store_secret_input
from runway.http.context import Context, context, executor
from runway.http.errors import conflict, invalid
from runway.http.namespaces import REQUEST_RETRY, ensure_namespace, require_cluster
from runway.http.plans import stored_plan
from runway.http.requests import caller, json_body
from runway.http.routes.deployments import full_view, reread, visible_deployment
from runway.store import NotFound
from runway.store.records import Answer, Deployment, DeploymentStatus

D = DeploymentStatus
ANSWERABLE = frozenset({D.CREATED, D.RUNNING, D.WAITING_FOR_INPUT})
GENERATED_ALPHABET = string.ascii_letters + string.digits
"""Letters and digits: a generated password can go into a URL or a shell line unquoted."""
GENERATE_TRIES = 20
"""Generated values tried against the input's pattern before giving up."""
_SHOWN_NAME = 64


async def answer_inputs(request: Request) -> Response:
    """Store answers: 200 with the deployment, its questions as now answered."""
    who = await caller(request)
    deployment = await visible_deployment(request, who)
    ctx = context(request)
    body = await json_body(request)
    if deployment.status not in ANSWERABLE:
        raise conflict(
            f"the deployment is {deployment.status}: answers are taken while it is created, "
            "running or waiting for input",
            [{"status": deployment.status.value}],
        )
    plan = await stored_plan(ctx, deployment)
    values, secret_values = _checked(plan.config.inputs, body)
    answers = [Answer(input=name, source="answer", value=value) for name, value in values.items()]
    if secret_values:
        answers += await _stored_secrets(ctx, deployment, secret_values)
    await ctx.store.deployments.put_answers(deployment.id, answers)
    for answer in answers:
        await ctx.store.deployments.add_event(
            deployment.id, "answer", {"input": answer.input}, ctx.now()
        )
    await executor(request).answered(deployment.id)
    return JSONResponse(await full_view(ctx, await reread(ctx, deployment)))


def _checked(
    inputs: Mapping[str, Input], body: dict[str, Any]
) -> tuple[dict[str, Value], dict[str, str]]:
    """The answers as their inputs take them: (non-secret values, secret values); 422 listing
    every problem, each at its input's name."""
    if not body:
        raise invalid('send at least one answer: {"NAME": value}')
    problems: list[dict[str, str]] = []
    values: dict[str, Value] = {}
    secret_values: dict[str, str] = {}
    for name, raw in body.items():
        spec = inputs.get(name)
        if spec is None:
            shown = name if len(name) <= _SHOWN_NAME else name[:_SHOWN_NAME] + "…"
            problems.append(
                {
                    "path": shown,
                    "message": f"unknown input '{shown}'{did_you_mean(name, inputs)}",
                }
            )
            continue
        try:
            value = _generated(spec, raw) if isinstance(raw, dict) else check_answer(spec, raw)
        except AnswerError as error:
            problems.append({"path": name, "message": str(error)})
            continue
        if spec.secret:
            secret_values[name] = str(value)
        else:
            values[name] = value
    if problems:
        count = len(problems)
        raise invalid(f"{count} answer{'s are' if count != 1 else ' is'} not acceptable", problems)
    return values, secret_values


def _generated(spec: Input, asked: dict[str, Any]) -> str:
    """A strong random value for a secret input with `generate: N`, passing its pattern."""
    if asked != {"generate": True}:
        raise AnswerError('expected a value, or {"generate": true} to have one generated')
    if not spec.secret or spec.generate is None:
        raise AnswerError(
            'only a secret input with `generate` takes {"generate": true}; send the value'
        )
    for _ in range(GENERATE_TRIES):
        value = "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(spec.generate))
        try:
            return str(check_answer(spec, value))
        except AnswerError:
            continue
    raise AnswerError(
        "generated values (letters and digits) do not match the input's pattern: send a value"
    )


async def _stored_secrets(
    ctx: Context, deployment: Deployment, values: dict[str, str]
) -> list[Answer]:
    """Each secret value in a new Secret of its own; the answers naming them. 503 without a
    cluster, the cluster's refusals as runway.http.errors.refusal answers them."""
    cluster = require_cluster(ctx)
    environment = await ctx.store.environments.by_id(deployment.environment_id)
    if environment is None:
        raise NotFound(f"environment {deployment.environment_id}")
    await ensure_namespace(ctx, environment, again=False)
    stored = []
    for name, value in values.items():
        version = await ctx.store.secret_versions.next(environment.id, deployment.app, name)
        ref = await store_secret_input(
            cluster,
            environment.namespace,
            environment.name,
            deployment.app,
            name,
            version,
            value,
            retry=REQUEST_RETRY,
        )
        stored.append(Answer(input=name, source="answer", secret_name=ref.name, secret_key=ref.key))
    return stored


routes = [
    Route("/api/v1/deployments/{id}/inputs", answer_inputs, methods=["POST"]),
]
