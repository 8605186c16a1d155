"""The world of the authorisation matrix (test_authorization.py): the owner with an environment
holding a deployment, a token and a key; another member; an admin; the personas that call; and
how each route's request is prepared for each of them."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runway.auth import new_token, token_hash
from runway.http.routes.users import parse_public_key
from runway.store.records import Answer, DeploymentStatus, Role, TokenKind, User
from tests.http.worlds import PASSWORD, World

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
        owner_token = await token_for(world, owner, OWNER_TOKEN_NAME)
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
        text, fingerprint = parse_public_key(public_key(0))
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
        text, fingerprint = parse_public_key(public_key(self.next()))
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


async def token_for(world: World, user: User, name: str, expires_in: timedelta = timedelta(days=1)):
    token = new_token()
    await world.store.credentials.create_token(
        user.id, TokenKind.API, name, token_hash(token), datetime.now(UTC) + expires_in
    )
    return token


def public_key(n: int) -> str:
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


async def environments_target(scene: Scene, persona: Persona) -> Target:
    return Target(
        "/api/v1/environments", params=scene.owner_query(persona), names={OWNER: GHOST_USER}
    )


async def new_environment(scene: Scene, persona: Persona) -> Target:
    target = await environments_target(scene, persona)
    target.json = {"name": f"made-{scene.next()}"}
    return target


async def deployment_target(scene: Scene, persona: Persona) -> Target:
    raw = str(scene.deployment_id)
    return Target(f"/api/v1/deployments/{raw}", names={raw: GHOST_ID})


def deployment_route(
    suffix: str, *, fresh: bool = False, final: bool = False, **extra: Any
) -> Prepare:
    """`/api/v1/deployments/{id}{suffix}` of the owner's deployment: a new one per caller when
    the request changes it for good (`fresh`), cancelled first when it must be over (`final`:
    an event stream of a deployment that is not over does not end)."""

    async def prepare(scene: Scene, persona: Persona) -> Target:
        deployment_id = scene.deployment_id
        if fresh:
            made = await scene.world.client(scene.owner_token).post(
                f"/api/v1/environments/{ENV}/deployments", content=CONFIG, headers=YAML
            )
            assert made.status_code == 201, made.text
            deployment_id = made.json()["id"]
        if final:
            await scene.world.store.transitions.deployment(
                deployment_id,
                DeploymentStatus.CANCELLED,
                allowed_from=(DeploymentStatus.CREATED,),
                now=datetime.now(UTC),
            )
        raw = str(deployment_id)
        return Target(f"/api/v1/deployments/{raw}{suffix}", names={raw: GHOST_ID}, **extra)

    return prepare


async def revealable(scene: Scene, persona: Persona) -> Target:
    """Revealing the owner's app's secret input, answered (its Secret would be in the cluster)."""
    await scene.world.store.deployments.put_answers(
        scene.deployment_id,
        [Answer("db_password", "answer", secret_name=f"{APP}-db-password-1", secret_key="value")],
    )
    return await env_route(f"/apps/{APP}/secrets/db_password/reveal")(scene, persona)


async def revoke_token(scene: Scene, persona: Persona) -> Target:
    raw = str(await scene.fresh_token_id())
    return Target(f"/api/v1/tokens/{raw}", names={raw: GHOST_ID})


async def delete_key(scene: Scene, persona: Persona) -> Target:
    raw = str(await scene.fresh_key_id())
    return Target(f"/api/v1/users/me/keys/{raw}", names={raw: GHOST_ID})


async def add_key(scene: Scene, persona: Persona) -> Target:
    return Target(
        "/api/v1/users/me/keys",
        json={"name": "mine", "public_key": public_key(1000 + scene.next())},
    )


async def update_user(scene: Scene, persona: Persona) -> Target:
    return Target(
        f"/api/v1/users/{OWNER}", json={"quota": {"pods": "7"}}, names={OWNER: GHOST_USER}
    )


async def delete_user(scene: Scene, persona: Persona) -> Target:
    name = await scene.fresh_user()
    return Target(f"/api/v1/users/{name}", names={name: GHOST_USER})


async def create_user(scene: Scene, persona: Persona) -> Target:
    return Target("/api/v1/users", json={"username": f"made-{scene.next()}", "password": PASSWORD})


async def accept_invite(scene: Scene, persona: Persona) -> Target:
    token = await scene.fresh_invite()
    return Target(
        f"/api/v1/invites/{token}",
        json={"username": f"joined-{scene.next()}", "password": PASSWORD},
    )
