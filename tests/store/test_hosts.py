"""Host claims and allowed domains, on both backends: one app holds a host in all of runway."""

from __future__ import annotations

import asyncio

import pytest

from runway.store import (
    HostNotAllowed,
    HostTaken,
    InvalidHost,
    NotFound,
    Store,
    host_allowed,
    normalise_host,
)
from tests.store.store_worlds import Raw, a_user, an_environment

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("blog.example.org", "blog.example.org"),
        ("Blog.Example.ORG.", "blog.example.org"),
        ("localhost", "localhost"),
        ("x1.example.org", "x1.example.org"),
        ("a" * 63 + ".example.org", "a" * 63 + ".example.org"),
    ],
)
def test_hosts_are_kept_lowercase_without_the_trailing_dot(given: str, kept: str):
    assert normalise_host(given) == kept


@pytest.mark.parametrize(
    "given",
    [
        "",
        ".",
        "blog..example.org",
        "blog.example.org..",
        "-blog.example.org",
        "blog-.example.org",
        "blog_1.example.org",
        "blog.example.org/path",
        " blog.example.org",
        "*.example.org",
        "a" * 64 + ".example.org",
        ".".join(["abcdefghi"] * 26),  # 259 characters
        "192.0.2.1",
    ],
)
def test_what_is_not_a_dns_name_is_refused(given: str):
    with pytest.raises(InvalidHost) as refused:
        normalise_host(given)
    assert refused.value.host == given


def test_a_host_is_allowed_under_a_domain_it_equals_or_is_a_subdomain_of():
    domains = ["example.org", "apps.example.net"]
    assert host_allowed("anything.test", [])
    assert host_allowed("example.org", domains)
    assert host_allowed("blog.example.org", domains)
    assert host_allowed("a.b.example.org", domains)
    assert host_allowed("x.apps.example.net", domains)
    assert not host_allowed("badexample.org", domains)
    assert not host_allowed("example.net", domains)
    assert not host_allowed("example.org.evil.test", domains)
    assert not host_allowed("org", domains)


async def test_a_claim_is_held_and_claiming_again_is_a_no_op(store: Store):
    ann = await a_user(store)
    staging = await an_environment(store, ann)
    assert await store.hosts.claim(staging.id, "blog", ["Blog.Example.org.", "www.example.org"])
    assert await store.hosts.held(staging.id, "blog") == ["blog.example.org", "www.example.org"]
    # The same app again (a redeploy), plus one more host: only the new one is new.
    again = await store.hosts.claim(staging.id, "blog", ["blog.example.org", "new.example.org"])
    assert again == ["new.example.org"]
    assert await store.hosts.claim(staging.id, "blog", []) == []
    assert await store.hosts.held(staging.id, "blog") == [
        "blog.example.org",
        "new.example.org",
        "www.example.org",
    ]
    assert await store.hosts.held(staging.id, "wiki") == []


async def test_another_app_anywhere_is_refused_naming_nothing_of_the_holder(store: Store):
    ann, bob = await a_user(store, "ann"), await a_user(store, "bob")
    anns = await an_environment(store, ann, "staging")
    bobs = await an_environment(store, bob, "production")
    ann_other = await an_environment(store, ann, "preview")
    await store.hosts.claim(anns.id, "blog", ["blog.example.org"])
    for environment_id, app in ((bobs.id, "blog"), (anns.id, "wiki"), (ann_other.id, "blog")):
        with pytest.raises(HostTaken) as taken:
            await store.hosts.claim(environment_id, app, ["BLOG.example.org."])
        assert taken.value.hosts == ("blog.example.org",)
        message = str(taken.value)
        assert message == "the host blog.example.org is already claimed by another app"
        for secret in ("ann", "staging", str(anns.id)):
            assert secret not in message
    assert await store.hosts.held(anns.id, "blog") == ["blog.example.org"]


async def test_a_claim_is_all_or_none_and_names_every_taken_host(store: Store, raw: Raw):
    ann, bob = await a_user(store, "ann"), await a_user(store, "bob")
    anns, bobs = await an_environment(store, ann), await an_environment(store, bob)
    await store.hosts.claim(anns.id, "blog", ["a.example.org", "c.example.org"])
    with pytest.raises(HostTaken) as taken:
        await store.hosts.claim(
            bobs.id, "shop", ["a.example.org", "b.example.org", "c.example.org"]
        )
    assert taken.value.hosts == ("a.example.org", "c.example.org")
    assert "a.example.org, c.example.org are already claimed" in str(taken.value)
    assert await store.hosts.held(bobs.id, "shop") == []
    assert await raw.count("host_claims") == 2


async def test_an_invalid_host_claims_nothing(store: Store, raw: Raw):
    staging = await an_environment(store, await a_user(store))
    with pytest.raises(InvalidHost):
        await store.hosts.claim(staging.id, "blog", ["good.example.org", "bad_host.example.org"])
    assert await raw.count("host_claims") == 0


async def test_a_claim_in_an_environment_that_is_gone_says_so(store: Store, raw: Raw):
    staging = await an_environment(store, await a_user(store))
    assert await store.environments.delete(staging.id)
    with pytest.raises(NotFound):
        await store.hosts.claim(staging.id, "blog", ["blog.example.org"])
    assert await raw.count("host_claims") == 0


async def test_release_frees_the_apps_hosts_but_those_kept(store: Store):
    ann, bob = await a_user(store, "ann"), await a_user(store, "bob")
    anns, bobs = await an_environment(store, ann), await an_environment(store, bob)
    await store.hosts.claim(anns.id, "blog", ["a.example.org", "b.example.org", "c.example.org"])
    await store.hosts.claim(anns.id, "wiki", ["wiki.example.org"])
    freed = await store.hosts.release(anns.id, "blog", keep=["B.example.org.", "not a host"])
    assert freed == ["a.example.org", "c.example.org"]
    assert await store.hosts.held(anns.id, "blog") == ["b.example.org"]
    assert await store.hosts.held(anns.id, "wiki") == ["wiki.example.org"], "another app's stay"
    # A freed host is anyone's again; a kept one is not.
    assert await store.hosts.claim(bobs.id, "shop", ["a.example.org"]) == ["a.example.org"]
    with pytest.raises(HostTaken):
        await store.hosts.claim(bobs.id, "shop", ["b.example.org"])
    assert await store.hosts.release(anns.id, "blog") == ["b.example.org"]
    assert await store.hosts.held(anns.id, "blog") == []
    assert await store.hosts.release(anns.id, "blog") == []


async def test_deleting_an_environment_or_its_owner_frees_its_hosts(store: Store, raw: Raw):
    ann, bob = await a_user(store, "ann"), await a_user(store, "bob")
    staging, production = await an_environment(store, ann, "s"), await an_environment(store, ann)
    bobs = await an_environment(store, bob)
    await store.hosts.claim(staging.id, "blog", ["blog.example.org"])
    await store.hosts.claim(production.id, "blog", ["www.example.org"])
    assert await store.environments.delete(staging.id)
    assert await raw.fetch("SELECT host FROM host_claims") == [("www.example.org",)]
    assert await store.hosts.claim(bobs.id, "blog", ["blog.example.org"]) == ["blog.example.org"]
    assert await store.users.delete(ann.id)
    assert await raw.fetch("SELECT host FROM host_claims") == [("blog.example.org",)]
    assert await store.hosts.claim(bobs.id, "blog", ["www.example.org"]) == ["www.example.org"]


async def test_allowed_domains_limit_what_can_be_claimed(store: Store, raw: Raw):
    staging = await an_environment(store, await a_user(store))
    assert await store.hosts.allowed_domains() == []
    stored = await store.hosts.set_allowed_domains(
        ["Example.ORG.", "apps.example.net", "example.org"]
    )
    assert stored == ["apps.example.net", "example.org"]
    assert await store.hosts.allowed_domains() == stored
    with pytest.raises(HostNotAllowed) as refused:
        await store.hosts.claim(
            staging.id, "blog", ["blog.example.org", "badexample.org", "example.net"]
        )
    assert refused.value.hosts == ("badexample.org", "example.net")
    assert refused.value.allowed == ("apps.example.net", "example.org")
    assert "apps.example.net, example.org" in str(refused.value)
    assert await raw.count("host_claims") == 0, "all or none"
    assert await store.hosts.claim(staging.id, "blog", ["example.org", "x.apps.example.net"])
    # Narrowing the domains keeps what is held, and refuses new claims outside them.
    assert await store.hosts.set_allowed_domains(["example.com"]) == ["example.com"]
    assert await store.hosts.held(staging.id, "blog") == ["example.org", "x.apps.example.net"]
    with pytest.raises(HostNotAllowed):
        await store.hosts.claim(staging.id, "blog", ["example.org", "other.example.org"])
    assert await store.hosts.set_allowed_domains([]) == []
    assert await store.hosts.claim(staging.id, "blog", ["anything.test"]) == ["anything.test"]


async def test_allowed_domains_must_be_dns_names(store: Store):
    with pytest.raises(InvalidHost):
        await store.hosts.set_allowed_domains(["example.org", "not a domain"])
    with pytest.raises(ValueError, match="at most 100"):
        await store.hosts.set_allowed_domains([f"d{i}.example.org" for i in range(101)])
    assert await store.hosts.allowed_domains() == []


async def test_concurrent_claims_of_one_host_leave_exactly_one_winner(store: Store, store_url: str):
    """Two instances, and tasks within each, claim the same hosts at once: every host ends up
    with exactly one app, every loser gets HostTaken (not an integrity error), and a loser of a
    multi-host claim holds none of its hosts."""
    owners = [await a_user(store, f"u{i}") for i in range(4)]
    environments = [await an_environment(store, owner) for owner in owners]
    others = [await Store.open(store_url) for _ in range(2)]
    stores = [store, *others]
    try:
        for round_ in range(5):
            single = f"one-{round_}.example.org"
            pair = [f"x-{round_}.example.org", f"y-{round_}.example.org"]
            claims = [
                stores[i % 3].hosts.claim(environments[i].id, f"app{i}", [single]) for i in range(4)
            ] + [
                # The same two hosts in opposite orders: sorted claims cannot deadlock.
                stores[i % 3].hosts.claim(
                    environments[i].id, f"app{i}", pair if i % 2 else pair[::-1]
                )
                for i in range(4)
            ]
            results = await asyncio.gather(*claims, return_exceptions=True)
            for group in (results[:4], results[4:]):
                won = [r for r in group if isinstance(r, list)]
                lost = [r for r in group if not isinstance(r, list)]
                assert len(won) == 1, group
                assert all(isinstance(r, HostTaken) for r in lost), lost
            winner = results[:4].index(next(r for r in results[:4] if isinstance(r, list)))
            held = await store.hosts.held(environments[winner].id, f"app{winner}")
            assert single in held
            holders = [
                i
                for i in range(4)
                if set(pair) <= set(await store.hosts.held(environments[i].id, f"app{i}"))
            ]
            assert len(holders) == 1
            for i in range(4):
                mine = set(await store.hosts.held(environments[i].id, f"app{i}"))
                assert not (mine & set(pair)) or i in holders, "a loser holds half a claim"
    finally:
        for other in others:
            await other.close()
