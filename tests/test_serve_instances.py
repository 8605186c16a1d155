"""`runway serve`'s flags for sharing deployments with other instances: its name, its lease
timings (flags, or RUNWAY_* variables), and the User-Agent that tells the cluster which instance
sent a request."""

from __future__ import annotations

from pathlib import Path

import pytest

from runway.cli import _parser
from runway.cli.serving import lease_limits
from runway.deploy.connection import connect
from runway.executor.run import Limits
from runway.simcluster import SimCluster
from tests.test_serve import runway

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_lease_timings_come_from_flags_and_default_to_the_executors() -> None:
    args = _parser().parse_args(["serve", "--lease-ttl", "4", "--lease-renew", "1.5"])
    limits = lease_limits(args)
    assert (limits.lease_ttl, limits.lease_renew, limits.lease_scan) == (4.0, 1.5, 3.0)
    assert lease_limits(_parser().parse_args(["serve"])) == Limits()


def test_lease_timings_and_the_name_come_from_the_environment_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNWAY_LEASE_SCAN", "0.5")
    monkeypatch.setenv("RUNWAY_INSTANCE_NAME", "blue")
    args = _parser().parse_args(["serve"])
    assert lease_limits(args).lease_scan == 0.5
    assert args.instance_name == "blue"


def test_a_lease_renewed_too_rarely_is_refused_before_serving(tmp_path: Path) -> None:
    done = runway("serve", "--data-dir", str(tmp_path), "--lease-ttl", "5", "--lease-renew", "3")
    assert done.returncode == 1
    assert "--lease-renew (3) must be at most half of --lease-ttl (5)" in done.stderr
    zero = runway("serve", "--data-dir", str(tmp_path), "--lease-scan", "0")
    assert zero.returncode == 2
    assert "--lease-scan" in zero.stderr


async def test_each_instance_names_itself_in_its_user_agent(tmp_path: Path) -> None:
    cluster = SimCluster()
    await cluster.start()
    try:
        cluster.write_kubeconfig(str(tmp_path / "kubeconfig"))
        async with await connect(str(tmp_path / "kubeconfig"), instance="blue-1") as connected:
            await connected.version()
    finally:
        await cluster.stop()
    assert cluster.requests[-1].user_agent == "runway/0.1.0 (instance blue-1)"
