"""Host claims: each Ingress host belongs to one app of one environment in all of runway, so
nobody can take (or shadow) another user's host; and the installation's allowed domains, which
may limit the hosts anyone can claim.

A claim is a row of `host_claims` (the host is the primary key), made before the host reaches an
Ingress and freed when the app stops exposing it (`release`) or its environment is deleted (ON
DELETE CASCADE). Hosts are kept normalised (`normalise_host`), so `Blog.Example.org.` and
`blog.example.org` are one host.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa

from runway.config.fields import HOST, HOST_MAX
from runway.store.database import Db
from runway.store.errors import HostNotAllowed, HostTaken, InvalidHost, NotFound
from runway.store.tables import environments, host_claims, settings

LABEL_MAX = 63
ALLOWED_DOMAINS = "allowed_domains"
"""The `settings` row holding the allowed domains, a JSON list (absent: any host)."""
MAX_ALLOWED_DOMAINS = 100
APPS_DOMAIN = "apps_domain"
"""The `settings` row of the installation's apps domain (runway.store.settings)."""


def normalise_host(host: str) -> str:
    """`host` as runway keeps and compares it: lowercase, without the trailing dot of a fully
    qualified name. InvalidHost unless it is a DNS name Kubernetes accepts as an Ingress host:
    labels of letters, digits and inner hyphens of at most 63 characters, at most 253 in all,
    and not an IP address (a name whose last label is all digits)."""
    if not isinstance(host, str):
        raise InvalidHost(repr(host), "it is not text")
    name = host.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise InvalidHost(host, "it is empty")
    if len(name) > HOST_MAX:
        raise InvalidHost(host, f"it is longer than {HOST_MAX} characters")
    if not HOST.fullmatch(name):
        raise InvalidHost(
            host, "each dot-separated label is letters, digits and '-' (not at either end)"
        )
    labels = name.split(".")
    if any(len(label) > LABEL_MAX for label in labels):
        raise InvalidHost(host, f"a label is longer than {LABEL_MAX} characters")
    if labels[-1].isdigit():
        raise InvalidHost(host, "an IP address cannot be an Ingress host")
    return name


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether the normalised `host` may be claimed under the normalised `allowed` domains: any
    host when there are none, else a host equal to one of them or a subdomain of one
    (`blog.example.org` under `example.org`; `badexample.org` is not)."""
    domains = list(allowed)
    if not domains:
        return True
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _normalised(hosts: Iterable[str]) -> list[str]:
    """Sorted without duplicates: one order for every claimer, so claims never deadlock."""
    return sorted({normalise_host(host) for host in hosts})


class HostClaims:
    """Which app of which environment holds each host, and which domains hosts may be under."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def claim(self, environment_id: int, app: str, hosts: Iterable[str]) -> list[str]:
        """Claim every one of `hosts` for `app` in the environment, all or none; the hosts that
        were not its already (normalised, sorted). Claiming a host the app already holds is a
        no-op, so a redeploy keeps its hosts.

        Refusals, each changing nothing: InvalidHost for a host that is not a DNS name;
        HostNotAllowed (naming every such host) when the installation limits hosts to domains
        they are not under; HostTaken (naming every such host, and nothing of who holds them)
        when another app, of this environment or any other, holds one; NotFound when the
        environment is gone.

        Two instances claiming one host at once: exactly one succeeds, the other gets HostTaken
        (never an integrity error). On SQLite write transactions run one at a time; on Postgres
        each host's claim is serialised by an advisory lock, the environment row is locked
        against deletion until the claim commits, and the insert is ON CONFLICT DO NOTHING with
        its result checked, so a claim the lock did not cover is still refused cleanly.

        Literal hosts are claimed when a deployment is created (runway.http); a host made from a
        template (`${{ inputs.domain }}`) is known only once its input is answered, so whoever
        renders it (the executor, before applying the Ingress) calls this with the rendered
        host, and gets the same checks.
        """
        wanted = _normalised(hosts)
        if not wanted:
            return []
        async with self._db.write():
            await self._db.lock(*(f"runway:host:{host}" for host in wanted))
            present = await self._db.fetch_one(
                sa.select(environments.c.id)
                .where(environments.c.id == environment_id)
                .with_for_update(read=True, key_share=True)  # FOR KEY SHARE; nothing on SQLite
            )
            if present is None:
                raise NotFound(f"environment {environment_id}")
            allowed = await self._claimable_domains()
            refused = tuple(host for host in wanted if not host_allowed(host, allowed))
            if refused:
                raise HostNotAllowed(refused, tuple(allowed))
            holders = await self._holders(wanted)
            taken = tuple(
                sorted(host for host, holder in holders.items() if holder != (environment_id, app))
            )
            if taken:
                raise HostTaken(taken)
            new = [host for host in wanted if host not in holders]
            for host in new:
                row = await self._db.fetch_one(
                    self._db.insert(host_claims)
                    .values(host=host, environment_id=environment_id, app=app)
                    .on_conflict_do_nothing(index_elements=[host_claims.c.host])
                    .returning(host_claims.c.host)
                )
                if row is None:  # claimed in between by a writer the lock did not hold back
                    raise HostTaken((host,))
        return new

    async def _holders(self, hosts: list[str]) -> dict[str, tuple[int, str]]:
        rows = await self._db.fetch_all(
            sa.select(host_claims.c.host, host_claims.c.environment_id, host_claims.c.app).where(
                host_claims.c.host.in_(hosts)
            )
        )
        return {row["host"]: (int(row["environment_id"]), str(row["app"])) for row in rows}

    async def release(self, environment_id: int, app: str, keep: Iterable[str] = ()) -> list[str]:
        """Free the hosts `app` holds in the environment except those in `keep` (the hosts its
        deployment still exposes): called once a successful deployment has pruned what it no
        longer has. The freed hosts, sorted. A host in `keep` that is not a DNS name cannot be
        held, so it keeps nothing."""
        kept = set()
        for host in keep:
            try:
                kept.add(normalise_host(host))
            except InvalidHost:
                continue
        async with self._db.write():
            query = sa.delete(host_claims).where(
                host_claims.c.environment_id == environment_id, host_claims.c.app == app
            )
            if kept:
                query = query.where(host_claims.c.host.not_in(sorted(kept)))
            rows = await self._db.fetch_all(query.returning(host_claims.c.host))
        return sorted(str(row["host"]) for row in rows)

    async def held(self, environment_id: int, app: str) -> list[str]:
        """The hosts `app` holds in the environment, sorted."""
        rows = await self._db.fetch_all(
            sa.select(host_claims.c.host)
            .where(host_claims.c.environment_id == environment_id, host_claims.c.app == app)
            .order_by(host_claims.c.host)
        )
        return [str(row["host"]) for row in rows]

    async def allowed_domains(self) -> list[str]:
        """The domains hosts must be under, sorted; empty: any host may be claimed."""
        return await self._allowed_domains()

    async def _claimable_domains(self) -> list[str]:
        """The allowed domains, and with them the installation's apps domain (hosts under it
        are what it is for); empty, as before, when no domain is allowed in particular."""
        allowed = await self._allowed_domains()
        if not allowed:
            return []
        row = await self._db.fetch_one(
            sa.select(settings.c.value).where(settings.c.name == APPS_DOMAIN)
        )
        apps_domain = json.loads(row["value"]) if row is not None else None
        if isinstance(apps_domain, str) and apps_domain:
            return sorted({*allowed, apps_domain})
        return allowed

    async def _allowed_domains(self) -> list[str]:
        row = await self._db.fetch_one(
            sa.select(settings.c.value).where(settings.c.name == ALLOWED_DOMAINS)
        )
        if row is None:
            return []
        value = json.loads(row["value"])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"the setting {ALLOWED_DOMAINS} is not a list of domains: {value!r}")
        return [str(item) for item in value]

    async def set_allowed_domains(self, domains: Iterable[str]) -> list[str]:
        """Limit the hosts anyone may claim from now on to `domains` and their subdomains (empty:
        any host); the domains as stored (normalised, sorted, without duplicates). InvalidHost
        for one that is not a DNS name, ValueError past MAX_ALLOWED_DOMAINS. Hosts claimed
        already stay claimed: the limit applies to claims made after it."""
        stored = _normalised(domains)
        if len(stored) > MAX_ALLOWED_DOMAINS:
            raise ValueError(f"at most {MAX_ALLOWED_DOMAINS} allowed domains")
        insert = self._db.insert(settings).values(name=ALLOWED_DOMAINS, value=json.dumps(stored))
        async with self._db.write():
            await self._db.execute(
                insert.on_conflict_do_update(
                    index_elements=[settings.c.name], set_={"value": insert.excluded.value}
                )
            )
        return stored
