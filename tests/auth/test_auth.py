"""The pure rules of runway.auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runway.auth import (
    InvalidInvite,
    InvalidName,
    InviteSigner,
    LoginLimits,
    PasswordHasher,
    WeakPassword,
    check_environment_name,
    check_username,
    client_address,
    new_token,
    parse_networks,
    token_hash,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_passwords_verify_and_wrong_ones_do_not():
    hasher = PasswordHasher.cheap()
    hashed = hasher.hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert hasher.verify(hashed, "correct horse battery")
    assert not hasher.verify(hashed, "correct horse batterz")
    assert not hasher.verify("not a hash", "correct horse battery")
    assert not hasher.verify(hashed, "x" * 5000)


def test_weak_passwords_are_refused():
    with pytest.raises(WeakPassword, match="at least 10 characters"):
        PasswordHasher.cheap().hash("short")
    with pytest.raises(WeakPassword, match="only spaces"):
        PasswordHasher.cheap().hash(" " * 12)


def test_tokens_are_random_and_stored_as_hashes():
    first, second = new_token(), new_token()
    assert first != second
    assert first.startswith("rw_")
    assert len(first) >= 3 + 43  # 32 random bytes, base64url
    assert token_hash(first) != first
    assert token_hash(first) == token_hash(first)


def test_invites_are_signed_and_expire():
    signer = InviteSigner(b"k" * 32)
    token = signer.issue(7, "nonce")
    assert signer.read(token, 60) == (7, "nonce")
    with pytest.raises(InvalidInvite, match="not valid"):
        InviteSigner(b"other key" * 4).read(token, 60)
    with pytest.raises(InvalidInvite, match="not valid"):
        signer.read(token[:-3] + "abc", 60)
    with pytest.raises(InvalidInvite, match="expired"):
        signer.read(token, -1)


def test_a_user_is_slowed_down_not_locked_out():
    limits = LoginLimits(per_user=3, user_pause=timedelta(seconds=30))
    failures = [NOW - timedelta(seconds=s) for s in (50, 40, 5)]
    assert limits.user_wait(failures[:2], NOW) == 0
    assert limits.user_wait(failures, NOW) == 25
    assert limits.user_wait(failures, NOW + timedelta(seconds=26)) == 0
    old = [NOW - timedelta(minutes=20)] * 10
    assert limits.user_wait(old, NOW) == 0


def test_an_address_waits_until_its_failures_age_out():
    limits = LoginLimits(per_address=2, window=timedelta(minutes=15))
    failures = [NOW - timedelta(minutes=10), NOW - timedelta(minutes=1)]
    assert limits.address_wait(failures, NOW) == 300
    assert limits.address_wait(failures[1:], NOW) == 0


def test_forwarded_addresses_are_believed_only_from_trusted_proxies():
    proxies = parse_networks("10.0.0.0/8, 192.0.2.1")
    assert client_address("198.51.100.9", "1.2.3.4", proxies) == "198.51.100.9"
    assert client_address("10.1.2.3", "1.2.3.4", proxies) == "1.2.3.4"
    # The client can write anything left of what the proxies appended.
    assert client_address("10.1.2.3", "6.6.6.6, 1.2.3.4, 192.0.2.1", proxies) == "1.2.3.4"
    assert client_address("10.1.2.3", None, proxies) == "10.1.2.3"
    assert client_address("10.1.2.3", "1.2.3.4", ()) == "10.1.2.3"
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an address"):
        parse_networks("10.0.0.300")


@pytest.mark.parametrize("name", ["ann", "a1", "a-b", "x" * 32])
def test_good_names(name):
    check_username(name)
    check_environment_name(name)


@pytest.mark.parametrize("name", ["Ann", "1a", "a-", "a_b", "", "x" * 33, "ann smith"])
def test_bad_names(name):
    with pytest.raises(InvalidName):
        check_username(name)


def test_me_is_not_a_user_name():
    with pytest.raises(InvalidName, match="reserved"):
        check_username("me")
