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

import enum
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from runway.auth import new_token, token_hash
from runway.http import Settings, create_app
from runway.http.routes.users import parse_public_key
from runway.store.records import Role, TokenKind, User
from tests.http.worlds import PASSWORD, PUBLIC_URL, World

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).parents[2] / "examples"
APP = "quokka"
CONFIG = (EXAMPLES / "blog.yaml").read_text().replace("app: blog", f"app: {APP}").encode()
YAML = {"Content-Type": "application/yaml"}

OWNER, OTHER, ADMIN, LOGIN = "olivia", "oscar", "ada", "lou"
ENV = "orchid"
OWNER_TOKEN_NAME = "olivias-laptop"
OWNER_KEY_NAME = "olivias-key"
GHOST_USER, GHOST_ENV, GHOST_ID = "nobody", "nowhere", "987654321"


class Persona(enum.Enum):
    NONE = "no token"
    EXPIRED = "expired token"
    REVOKED = "revoked token"
    DISABLED = "disabled user"
    OTHER = "another member"
    OWNER = "the owner"
    ADMIN = "an admin"


UNAUTHENTICATED = (Persona.NONE, Persona.EXPIRED, Persona.REVOKED, Persona.DISABLED)


class Kind(enum.Enum):
    PUBLIC = "public"
    OWNED = "owned"
    ADMIN = "admin"
    SELF = "self"
    PERSONAL = "personal"


def expected(kind: Kind, ok: int, persona: Persona) -> int:
    if kind is Kind.PUBLIC:
        return ok
    if persona in UNAUTHENTICATED:
        return 401
    allowed = {
        Kind.OWNED: (Persona.OWNER, Persona.ADMIN),
        Kind.ADMIN: (Persona.ADMIN,),
        Kind.SELF: (Persona.OTHER, Persona.OWNER, Persona.ADMIN),
        Kind.PERSONAL: (Persona.OWNER,),
    }[kind]
    return ok if persona in allowed else 404


def may_see_owners_data(kind: Kind, persona: Persona) -> bool:
    return persona is Persona.OWNER or (
        persona is Persona.ADMIN and kind in (Kind.OWNED, Kind.ADMIN)
    )


@dataclass
class Target:
    """One request: where, with what, and which of its words name real things (real -> ghost)."""

    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def ghost(self) -> Target:
        """The same request about things that do not exist."""

        def swap(text: str) -> str:
            return self.names.get(text, text)

        return Target(
            "/".join(swap(part) for part in self.path.split("/")),
            {key: swap(value) for key, value in self.params.items()},
            self.json,
            self.content,
            self.headers,
        )


@dataclass
class Scene:
    """The owner with an environment holding a deployment, a token and a key; another member;
    an admin; and a plain user for logging in on the public route."""

    world: World
    owner: User
    owner_token: str
    other: User
    other_token: str
    admin: User
    admin_token: str
    deployment_id: int
    owner_key_fingerprint: str
    serial: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    async def build(cls, world: World) -> Scene:
        owner, _ = await world.person(OWNER)
        owner_token = await _token(world, owner, OWNER_TOKEN_NAME)
        other, other_token = await world.person(OTHER)
        admin, admin_token = await world.person(ADMIN, Role.ADMIN)
        await world.person(LOGIN)
        client = world.client(owner_token)
        made = await client.post("/api/v1/environments", json={"name": ENV})
        assert made.status_code == 201, made.text
        deployed = await client.post(
            f"/api/v1/environments/{ENV}/deployments", content=CONFIG, headers=YAML
        )
        assert deployed.status_code == 201, deployed.text
        text, fingerprint = parse_public_key(_public_key(0))
        await world.store.users.add_key(owner.id, OWNER_KEY_NAME, text, fingerprint)
        return cls(
            world,
            owner,
            owner_token,
            other,
            other_token,
            admin,
            admin_token,
            deployed.json()["id"],
            fingerprint,
        )

    def next(self) -> int:
        return next(self.serial) + 1

    def markers(self) -> list[str]:
        """The owner's data nobody else may see, whatever they send."""
        return [
            APP,
            f"rw-{OWNER}-{ENV}",
            OWNER_TOKEN_NAME,
            OWNER_KEY_NAME,
            self.owner_key_fingerprint,
        ]

    def owner_query(self, persona: Persona) -> dict[str, str]:
        """How a caller names the owner's environments: admins (and members trying) by
        `?owner=`, the owner by nothing."""
        return {"owner": OWNER} if persona in (Persona.OTHER, Persona.ADMIN) else {}

    async def fresh_token_id(self) -> int:
        record = await self.world.store.credentials.create_token(
            self.owner.id,
            TokenKind.API,
            "spare",
            token_hash(new_token()),
            datetime.now(UTC) + timedelta(days=1),
        )
        return record.id

    async def fresh_key_id(self) -> int:
        text, fingerprint = parse_public_key(_public_key(self.next()))
        key = await self.world.store.users.add_key(self.owner.id, "spare", text, fingerprint)
        return key.id

    async def fresh_environment(self) -> str:
        name = f"doomed-{self.next()}"
        await self.world.store.environments.create(self.owner, name, datetime.now(UTC))
        return name

    async def fresh_user(self) -> str:
        name = f"victim-{self.next()}"
        await self.world.person(name)
        return name

    async def fresh_invite(self) -> str:
        made = await self.world.client(self.admin_token).post("/api/v1/invites", json={})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])

    async def snapshot(self) -> Any:
        """What a refused request must not change."""
        store = self.world.store
        owner = await store.users.get(self.owner.id)
        environments, _ = await store.environments.list(self.owner.id, limit=200, cursor=None)
        deployments = []
        for env in environments:
            found, _ = await store.deployments.list(env.id, limit=200, cursor=None)
            deployments.append([(d.id, d.number, d.status) for d in found])
        users, _ = await store.users.list(limit=200, cursor=None)
        admin = await store.users.get(self.admin.id)
        return (
            owner,
            admin,
            environments,
            deployments,
            [t.id for t in await store.credentials.tokens(self.owner.id)],
            [k.id for k in await store.users.keys(self.owner.id)],
            [(u.name, u.role, u.disabled) for u in users],
            await store.hosts.allowed_domains(),
        )


async def _token(world: World, user: User, name: str, expires_in: timedelta = timedelta(days=1)):
    token = new_token()
    await world.store.credentials.create_token(
        user.id, TokenKind.API, name, token_hash(token), datetime.now(UTC) + expires_in
    )
    return token


def _public_key(n: int) -> str:
    """A well-formed ssh-ed25519 public key, different for each n."""
    import base64

    kind = b"ssh-ed25519"
    data = n.to_bytes(32, "big")
    blob = len(kind).to_bytes(4, "big") + kind + len(data).to_bytes(4, "big") + data
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} k{n}"


Prepare = Callable[[Scene, Persona], Awaitable[Target]]


def at(path: str, **extra: Any) -> Prepare:
    async def prepare(scene: Scene, persona: Persona) -> Target:
        return Target(path, **extra)

    return prepare


def env_route(suffix: str = "", *, fresh: bool = False, **extra: Any) -> Prepare:
    """`/api/v1/environments/{env}{suffix}` of the owner's environment (a fresh one per caller
    when the request destroys it)."""

    async def prepare(scene: Scene, persona: Persona) -> Target:
        env = await scene.fresh_environment() if fresh else ENV
        return Target(
            f"/api/v1/environments/{env}{suffix}",
            params=scene.owner_query(persona),
            names={env: GHOST_ENV, OWNER: GHOST_USER},
            **extra,
        )

    return prepare


async def _environments(scene: Scene, persona: Persona) -> Target:
    return Target(
        "/api/v1/environments", params=scene.owner_query(persona), names={OWNER: GHOST_USER}
    )


async def _new_environment(scene: Scene, persona: Persona) -> Target:
    target = await _environments(scene, persona)
    target.json = {"name": f"made-{scene.next()}"}
    return target


async def _deployment(scene: Scene, persona: Persona) -> Target:
    raw = str(scene.deployment_id)
    return Target(f"/api/v1/deployments/{raw}", names={raw: GHOST_ID})


async def _revoke_token(scene: Scene, persona: Persona) -> Target:
    raw = str(await scene.fresh_token_id())
    return Target(f"/api/v1/tokens/{raw}", names={raw: GHOST_ID})


async def _delete_key(scene: Scene, persona: Persona) -> Target:
    raw = str(await scene.fresh_key_id())
    return Target(f"/api/v1/users/me/keys/{raw}", names={raw: GHOST_ID})


async def _add_key(scene: Scene, persona: Persona) -> Target:
    return Target(
        "/api/v1/users/me/keys",
        json={"name": "mine", "public_key": _public_key(1000 + scene.next())},
    )


async def _update_user(scene: Scene, persona: Persona) -> Target:
    return Target(
        f"/api/v1/users/{OWNER}", json={"quota": {"pods": "7"}}, names={OWNER: GHOST_USER}
    )


async def _delete_user(scene: Scene, persona: Persona) -> Target:
    name = await scene.fresh_user()
    return Target(f"/api/v1/users/{name}", names={name: GHOST_USER})


async def _create_user(scene: Scene, persona: Persona) -> Target:
    return Target("/api/v1/users", json={"username": f"made-{scene.next()}", "password": PASSWORD})


async def _accept_invite(scene: Scene, persona: Persona) -> Target:
    token = await scene.fresh_invite()
    return Target(
        f"/api/v1/invites/{token}",
        json={"username": f"joined-{scene.next()}", "password": PASSWORD},
    )


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
    ("DELETE", "/api/v1/tokens/{id}"): Spec(Kind.PERSONAL, 204, _revoke_token),
    ("POST", "/api/v1/invites"): Spec(Kind.ADMIN, 201, at("/api/v1/invites", json={})),
    ("POST", "/api/v1/invites/{token}"): Spec(Kind.PUBLIC, 201, _accept_invite),
    ("GET", "/api/v1/users"): Spec(Kind.ADMIN, 200, at("/api/v1/users")),
    ("POST", "/api/v1/users"): Spec(Kind.ADMIN, 201, _create_user),
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
    ("POST", "/api/v1/users/me/keys"): Spec(Kind.SELF, 201, _add_key),
    ("DELETE", "/api/v1/users/me/keys/{id}"): Spec(Kind.PERSONAL, 204, _delete_key),
    ("PATCH", "/api/v1/users/{name}"): Spec(Kind.ADMIN, 200, _update_user),
    ("DELETE", "/api/v1/users/{name}"): Spec(Kind.ADMIN, 204, _delete_user),
    ("GET", "/api/v1/environments"): Spec(Kind.OWNED, 200, _environments),
    ("POST", "/api/v1/environments"): Spec(Kind.OWNED, 201, _new_environment),
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
    ("GET", "/api/v1/deployments/{id}"): Spec(Kind.OWNED, 200, _deployment),
    ("GET", "/api/v1/settings"): Spec(Kind.ADMIN, 200, at("/api/v1/settings")),
    ("PATCH", "/api/v1/settings"): Spec(
        Kind.ADMIN, 200, at("/api/v1/settings", json={"allowed_domains": ["example.org"]})
    ),
    ("GET", "/healthz"): Spec(Kind.PUBLIC, 200, at("/healthz")),
    ("GET", "/readyz"): Spec(Kind.PUBLIC, 200, at("/readyz")),
    ("GET", "/api/v1/openapi.json"): Spec(Kind.PUBLIC, 200, at("/api/v1/openapi.json")),
    ("GET", "/api/v1/schema/config"): Spec(Kind.PUBLIC, 200, at("/api/v1/schema/config")),
}


def served_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the app as `create_app` builds it (HEAD goes with GET)."""
    app = create_app(Settings(database_url="sqlite://", public_url=PUBLIC_URL))
    found = []
    for route in app.routes:
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
            return await _token(scene.world, self.beneficiary, "old", timedelta(seconds=-1))
        if persona is Persona.REVOKED:
            token = await _token(scene.world, self.beneficiary, "gone")
            for record in await scene.world.store.credentials.tokens(self.beneficiary.id):
                if record.name == "gone":
                    await scene.world.store.credentials.revoke_token(
                        self.beneficiary.id, record.id, datetime.now(UTC)
                    )
            return token
        if persona is Persona.DISABLED:
            return await _token(scene.world, self.beneficiary, "still-valid")
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
