"""Device tokens: signed, bound to one account, and trusted only while they fail rarely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from itsdangerous import URLSafeTimedSerializer

from runway.auth import DeviceSigner, LoginLimits

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEY = b"k" * 32
DAY = timedelta(days=1)
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def test_a_device_token_says_whose_it_is_and_is_new_each_time():
    signer = DeviceSigner(KEY, DAY)
    first, second = signer.issue(7, "ann", HASH), signer.issue(7, "ann", HASH)
    assert first != second
    device = signer.read(first)
    assert device is not None
    assert (device.user_id, device.username) == (7, "ann")
    assert device.key != signer.read(second).key  # type: ignore[union-attr]
    # Failures are counted under a hash: neither the token nor its nonce is stored.
    assert device.key.startswith("device:")
    assert device.nonce not in device.key and first not in device.key


def test_forged_tampered_expired_or_odd_tokens_are_no_devices():
    signer = DeviceSigner(KEY, DAY)
    token = signer.issue(7, "ann", HASH)
    assert DeviceSigner(b"another key" * 3, DAY).read(token) is None
    assert signer.read(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert DeviceSigner(KEY, timedelta(seconds=-1)).read(token) is None
    assert signer.read("") is None
    assert signer.read("é" + token) is None
    assert signer.read(token + "x" * 600) is None
    # Signed with the key but not by DeviceSigner (another purpose's salt, another shape).
    assert signer.read(URLSafeTimedSerializer(KEY, salt="runway.invite").dumps([7, "n"])) is None
    assert signer.read(URLSafeTimedSerializer(KEY, salt="runway.device").dumps([7, "n"])) is None


def test_a_device_holds_for_its_account_while_its_password_is_the_same():
    signer = DeviceSigner(KEY, DAY)
    device = signer.read(signer.issue(7, "ann", HASH))
    assert device is not None
    assert signer.holds(device, 7, "ann", HASH)
    assert not signer.holds(device, 8, "ann", HASH)  # an account made later under the name
    assert not signer.holds(device, 7, "bob", HASH)
    assert not signer.holds(device, 7, "ann", HASH + "x")  # the password was changed
    assert HASH not in device.stamp and device.stamp not in HASH


def test_a_device_is_trusted_until_it_fails_too_often_in_the_window():
    limits = LoginLimits(per_device=3, window=timedelta(minutes=15))
    recent = [NOW - timedelta(minutes=m) for m in (10, 5, 1)]
    assert limits.device_trusted(recent[:2], NOW)
    assert not limits.device_trusted(recent, NOW)
    assert limits.device_trusted(recent, NOW + timedelta(minutes=6))  # the oldest left it
