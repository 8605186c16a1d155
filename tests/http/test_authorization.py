"""The authorisation matrix: every route the app serves x every kind of caller, with the status
each must get, and nothing of the owner's in any refused answer.

The routes come from `app.routes`: a route added to the app without a row in MATRIX fails here.

Callers (Persona): no token; the expired, the revoked token, and the valid token of a disabled
user, each of the person who would otherwise succeed (the owner, or the admin on admin routes);
another member; the owner; an admin. Route kinds (Kind):

- PUBLIC: no token needed; everyone gets the same answer (a bad token is ignored, not refused).
- OWNED: the owner's environments and deployments; another member gets 404 (tried with
  `?owner=olivia`, the way an admin reaches them); an admin succeeds.
- ADMIN: admins only; members get 404, as for a path that does not exist.
- SELF: the caller's own account (each caller succeeds on their own).
- PERSONAL: one of the owner's tokens or keys by id; anyone else gets 404, admins too.

Leaks checked on every answer:
- the exact status (so no 2xx where 401/404 is due);
- a refused request changes nothing (the owner's account, environments, deployments, tokens and
  keys, and the list of users, read from the store before and after);
- a 401 says nothing about the owner (no name of theirs), and the expired, revoked and disabled
  answers are the same;
- a 404 is the very answer the same caller gets for something that does not exist (same path
  with the owner, environment and ids swapped for unknown ones): no oracle;
- whoever may not see the owner's data finds none of it (app, namespace, token and key names,
  key fingerprint) in any answer, and the owner's and environment's names only where the
  request itself named them;
- no answer, to anyone, shows a password or a bearer token in use.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.routing import Route

from runway.http import Settings, create_app
from tests.http.authorization_world import (
    APP,
    CONFIG,
    ENV,
    LOGIN,
    OWNER,
    PASSWORD,
    YAML,
    Kind,
    Persona,
    Prepare,
    Scene,
    Target,
    accept_invite,
    add_key,
    at,
    create_user,
    delete_key,
    delete_user,
    deployment_route,
    deployment_target,
    env_route,
    environments_target,
    expected,
    may_see_owners_data,
    new_environment,
    revealable,
    revoke_token,
    token_for,
    update_user,
)
from tests.http.worlds import PUBLIC_URL, World

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Spec:
    kind: Kind
    ok: int
    prepare: Prepare


MATRIX: dict[tuple[str, str], Spec] = {
    ("POST", "/api/v1/setup"): Spec(
        Kind.PUBLIC,
        409,  # somebody exists: set up already, whoever asks
        at(
            "/api/v1/setup",
            json={"setup_token": "rw_guess", "username": "mallory", "password": PASSWORD},
        ),
    ),
    ("POST", "/api/v1/sessions"): Spec(
        Kind.PUBLIC,
        201,
        at("/api/v1/sessions", json={"username": LOGIN, "password": PASSWORD}),
    ),
    ("GET", "/api/v1/tokens"): Spec(Kind.SELF, 200, at("/api/v1/tokens")),
    ("POST", "/api/v1/tokens"): Spec(Kind.SELF, 201, at("/api/v1/tokens", json={"name": "ci"})),
    ("DELETE", "/api/v1/tokens/{id}"): Spec(Kind.PERSONAL, 204, revoke_token),
    ("POST", "/api/v1/invites"): Spec(Kind.ADMIN, 201, at("/api/v1/invites", json={})),
    ("POST", "/api/v1/invites/{token}"): Spec(Kind.PUBLIC, 201, accept_invite),
    ("GET", "/api/v1/users"): Spec(Kind.ADMIN, 200, at("/api/v1/users")),
    ("POST", "/api/v1/users"): Spec(Kind.ADMIN, 201, create_user),
    ("GET", "/api/v1/users/me"): Spec(Kind.SELF, 200, at("/api/v1/users/me")),
    ("PATCH", "/api/v1/users/me"): Spec(
        Kind.SELF,
        200,
        at(
            "/api/v1/users/me",
            json={"current_password": PASSWORD, "password": "another long password"},
        ),
    ),
    ("GET", "/api/v1/users/me/keys"): Spec(Kind.SELF, 200, at("/api/v1/users/me/keys")),
    ("POST", "/api/v1/users/me/keys"): Spec(Kind.SELF, 201, add_key),
    ("DELETE", "/api/v1/users/me/keys/{id}"): Spec(Kind.PERSONAL, 204, delete_key),
    ("PATCH", "/api/v1/users/{name}"): Spec(Kind.ADMIN, 200, update_user),
    ("DELETE", "/api/v1/users/{name}"): Spec(Kind.ADMIN, 204, delete_user),
    ("GET", "/api/v1/environments"): Spec(Kind.OWNED, 200, environments_target),
    ("POST", "/api/v1/environments"): Spec(Kind.OWNED, 201, new_environment),
    ("GET", "/api/v1/environments/{env}"): Spec(Kind.OWNED, 200, env_route()),
    ("PATCH", "/api/v1/environments/{env}"): Spec(
        Kind.OWNED, 200, env_route(json={"on_failure": "rollback"})
    ),
    ("DELETE", "/api/v1/environments/{env}"): Spec(Kind.OWNED, 204, env_route(fresh=True)),
    ("GET", "/api/v1/environments/{env}/deployments"): Spec(
        Kind.OWNED, 200, env_route("/deployments")
    ),
    ("POST", "/api/v1/environments/{env}/deployments"): Spec(
        Kind.OWNED, 201, env_route("/deployments", content=CONFIG, headers=YAML)
    ),
    ("GET", "/api/v1/deployments/{id}"): Spec(Kind.OWNED, 200, deployment_target),
    # Without a cluster (this world has none), start, logs and reveal answer 503 to those
    # who may use them: past every check of who may.
    ("POST", "/api/v1/deployments/{id}/start"): Spec(Kind.OWNED, 503, deployment_route("/start")),
    ("POST", "/api/v1/deployments/{id}/cancel"): Spec(
        Kind.OWNED, 200, deployment_route("/cancel", fresh=True)
    ),
    # The owner's deployment never started: its rollback is refused, saying so.
    ("POST", "/api/v1/deployments/{id}/rollback"): Spec(
        Kind.OWNED, 409, deployment_route("/rollback")
    ),
    ("POST", "/api/v1/deployments/{id}/inputs"): Spec(
        Kind.OWNED, 200, deployment_route("/inputs", json={"admin_email": "ops@example.org"})
    ),
    ("GET", "/api/v1/deployments/{id}/events"): Spec(
        Kind.OWNED, 200, deployment_route("/events", fresh=True, final=True)
    ),
    ("GET", "/api/v1/deployments/{id}/steps/{step}/logs"): Spec(
        Kind.OWNED, 503, deployment_route("/steps/web/logs")
    ),
    ("GET", "/api/v1/environments/{env}/apps/{app}/services/{service}/logs"): Spec(
        Kind.OWNED, 503, env_route(f"/apps/{APP}/services/web/logs")
    ),
    ("POST", "/api/v1/environments/{env}/apps/{app}/secrets/{input}/reveal"): Spec(
        Kind.OWNED, 503, revealable
    ),
    ("GET", "/api/v1/settings"): Spec(Kind.ADMIN, 200, at("/api/v1/settings")),
    ("PATCH", "/api/v1/settings"): Spec(
        Kind.ADMIN, 200, at("/api/v1/settings", json={"allowed_domains": ["example.org"]})
    ),
    ("GET", "/healthz"): Spec(Kind.PUBLIC, 200, at("/healthz")),
    ("GET", "/readyz"): Spec(Kind.PUBLIC, 200, at("/readyz")),
    ("GET", "/metrics"): Spec(Kind.PUBLIC, 200, at("/metrics")),
    ("GET", "/api/v1/openapi.json"): Spec(Kind.PUBLIC, 200, at("/api/v1/openapi.json")),
    ("GET", "/api/v1/schema/config"): Spec(Kind.PUBLIC, 200, at("/api/v1/schema/config")),
}


def served_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the app as `create_app` builds it (HEAD goes with GET)."""
    app = create_app(Settings(database_url="sqlite://", public_url=PUBLIC_URL))
    found = []
    for route in app.routes:
        if getattr(route, "path", "").startswith("/ui/"):
            continue  # the browser's pages take a session cookie, no token: tests/web covers them
        assert isinstance(route, Route), f"{route!r} is not a plain Route: extend this matrix"
        assert route.methods, f"{route.path} accepts every method: extend this matrix"
        found += [(method, route.path) for method in sorted(route.methods) if method != "HEAD"]
    return found


SERVED = served_routes()


def test_the_matrix_has_no_row_for_a_route_that_is_gone():
    assert set(MATRIX) <= set(SERVED), set(MATRIX) - set(SERVED)


class Caller:
    """A persona's credentials for one request, and who would succeed with them were they valid."""

    def __init__(self, scene: Scene, kind: Kind, persona: Persona) -> None:
        self.scene, self.kind, self.persona = scene, kind, persona
        self.beneficiary = scene.admin if kind is Kind.ADMIN else scene.owner

    async def token(self) -> str | None:
        scene, persona = self.scene, self.persona
        if persona is Persona.NONE:
            return None
        if persona is Persona.EXPIRED:
            return await token_for(scene.world, self.beneficiary, "old", timedelta(seconds=-1))
        if persona is Persona.REVOKED:
            token = await token_for(scene.world, self.beneficiary, "gone")
            for record in await scene.world.store.credentials.tokens(self.beneficiary.id):
                if record.name == "gone":
                    await scene.world.store.credentials.revoke_token(
                        self.beneficiary.id, record.id, datetime.now(UTC)
                    )
            return token
        if persona is Persona.DISABLED:
            return await token_for(scene.world, self.beneficiary, "still-valid")
        return {
            Persona.OTHER: scene.other_token,
            Persona.OWNER: scene.owner_token,
            Persona.ADMIN: scene.admin_token,
        }[persona]

    @asynccontextmanager
    async def around(self) -> AsyncIterator[None]:
        """The disabled persona's user is disabled for the request only."""
        if self.persona is not Persona.DISABLED:
            yield
            return
        users = self.scene.world.store.users
        await users.update(self.beneficiary.id, disabled=True)
        try:
            yield
        finally:
            await users.update(self.beneficiary.id, disabled=False)


async def send(client: httpx.AsyncClient, method: str, target: Target) -> httpx.Response:
    return await client.request(
        method,
        target.path,
        params=target.params,
        json=target.json,
        content=target.content,
        headers=target.headers,
    )


@pytest.mark.parametrize(("method", "path"), SERVED, ids=[f"{m} {p}" for m, p in SERVED])
async def test_every_caller_gets_what_is_due_and_nothing_else(world: World, method, path):
    spec = MATRIX.get((method, path))
    assert spec is not None, f"{method} {path} is served but has no row in MATRIX: add one"
    scene = await Scene.build(world)
    problems: list[str] = []
    refusals_401: dict[Persona, str] = {}
    methods = [method, "HEAD"] if method == "GET" else [method]
    for persona, verb in itertools.product(Persona, methods):
        caller = Caller(scene, spec.kind, persona)
        token = await caller.token()
        client = world.client(token)
        target = await spec.prepare(scene, persona)
        want = expected(spec.kind, spec.ok, persona)
        label = f"{verb} {target.path} {target.params or ''} as {persona.value}"
        before = await scene.snapshot() if want >= 400 else None
        async with caller.around():
            answer = await send(client, verb, target)
        if answer.status_code != want:
            problems.append(f"{label}: {answer.status_code} (expected {want}) {answer.text[:200]}")
            continue
        body = answer.text
        shown = [
            s
            for s in (PASSWORD, scene.owner_token, scene.other_token, scene.admin_token, token)
            if s and s in body
        ]
        if shown:
            problems.append(f"{label}: the answer shows a password or a bearer token: {body[:300]}")
        if before is not None and await scene.snapshot() != before:
            problems.append(f"{label}: refused with {want}, yet it changed something")
        if not may_see_owners_data(spec.kind, persona):
            leaked = [marker for marker in scene.markers() if marker in body]
            if leaked:
                problems.append(f"{label}: the answer shows the owner's {leaked}: {body[:300]}")
        if verb == "HEAD":
            continue
        if want == 401:
            named = [name for name in (OWNER, ENV) if name in body]
            if named:
                problems.append(f"{label}: a 401 names {named}: {body}")
            if persona is not Persona.NONE:
                refusals_401[persona] = body
        elif want == 404 and spec.kind is not Kind.PUBLIC:
            ghost = await send(client, verb, target.ghost())
            unmasked = ghost.text
            for real, fake in target.names.items():
                unmasked = unmasked.replace(fake, real)
            if ghost.status_code != 404 or unmasked != body:
                problems.append(
                    f"{label}: its 404 differs from the one for what does not exist: "
                    f"{body} vs {ghost.status_code} {ghost.text}"
                )
        elif not may_see_owners_data(spec.kind, persona) and spec.kind is not Kind.PUBLIC:
            named = [name for name in (OWNER, ENV) if name in body]
            if named:
                problems.append(f"{label}: the answer names {named}: {body[:300]}")
    if len(set(refusals_401.values())) > 1:
        problems.append(f"expired, revoked and disabled are told apart: {refusals_401}")
    assert not problems, "\n".join(problems)
