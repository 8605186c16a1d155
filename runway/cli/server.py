"""`runway serve` and `runway setup`: the server, and its first admin."""

from __future__ import annotations

import argparse
import logging
import os

import platformdirs

from runway.cli import settings_flags
from runway.cli.common import Commands, Namespace

log = logging.getLogger("runway")


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"RUNWAY_{name}", default)


def _port(text: str) -> int:
    """A port number; argparse turns the ValueError into a usage error (exit 2), for a flag and
    for RUNWAY_PORT alike (a string default goes through `type` too)."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def _seconds(text: str) -> float:
    """A positive number of seconds (a lease timing); a ValueError is a usage error, as for
    `_port`."""
    seconds = float(text)
    if not 0 < seconds < float("inf"):
        raise ValueError(text)
    return seconds


def _database_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--database-url",
        default=_env("DATABASE_URL"),
        metavar="URL",
        help="postgresql://... (default: SQLite in the data dir)",
    )
    add(
        "--data-dir",
        default=_env("DATA_DIR", platformdirs.user_data_dir("runway")),
        metavar="DIR",
        help="where the embedded SQLite database lives",
    )


def _instance_flags(parser: argparse.ArgumentParser) -> None:
    """How this instance shares deployments with the others on one database (DESIGN.md,
    Executing): its name, and the timings of its leases. Shorter leases take a crashed
    instance's deployments over sooner, at the price of more writes."""
    add = parser.add_argument
    add(
        "--instance-name",
        default=_env("INSTANCE_NAME"),
        metavar="NAME",
        help="this instance's name in leases and its User-Agent (default: host-pid-random)",
    )
    add(
        "--lease-ttl",
        type=_seconds,
        default=_env("LEASE_TTL"),
        metavar="SECONDS",
        help="how long a deployment's lease lasts unless renewed: a crashed instance's "
        "deployments are taken over after it (default 10)",
    )
    add(
        "--lease-renew",
        type=_seconds,
        default=_env("LEASE_RENEW"),
        metavar="SECONDS",
        help="seconds between renewals of this instance's leases (default 3)",
    )
    add(
        "--lease-scan",
        type=_seconds,
        default=_env("LEASE_SCAN"),
        metavar="SECONDS",
        help="seconds between looks for deployments nobody holds (default 3)",
    )


def _environment_flags(parser: argparse.ArgumentParser) -> None:
    """What every environment's namespace is given by this installation (runway install sets
    them): the RoleBinding of runway's ServiceAccount `runway` in its own namespace to the
    tenant role, and the NetworkPolicy admitting the ingress controller's namespace."""
    add = parser.add_argument
    add(
        "--namespace",
        default=_env("NAMESPACE", "runway"),
        metavar="NAMESPACE",
        help="runway's own namespace, where its ServiceAccount runway is (default runway)",
    )
    add(
        "--tenant-role",
        default=_env("TENANT_ROLE", "runway-tenant"),
        metavar="NAME",
        help="the ClusterRole runway binds itself in each environment (default runway-tenant)",
    )
    add(
        "--ingress-namespace",
        default=_env("INGRESS_NAMESPACE", "ingress-nginx"),
        metavar="NAMESPACE",
        help="the ingress controller's namespace, admitted by every environment's "
        "NetworkPolicy (default ingress-nginx)",
    )
    add(
        "--storage-class",
        default=_env("STORAGE_CLASS"),
        metavar="NAME",
        help="the StorageClass of apps' volumes (default: the cluster's default class)",
    )
    add(
        "--snapshot-class",
        default=_env("SNAPSHOT_CLASS"),
        metavar="NAME",
        help="the VolumeSnapshotClass restore points use for volumes of its driver (default: "
        "that driver's default class; volumes with none are copied)",
    )


def add_commands(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the API server",
        description="Serve the API. Each flag can also come from RUNWAY_<FLAG> "
        "(RUNWAY_DATABASE_URL, RUNWAY_PORT, ...).",
    )
    serve.add_argument("--host", default=_env("HOST", "127.0.0.1"), help="default 127.0.0.1")
    serve.add_argument(
        "--port", type=_port, default=_env("PORT", "8080"), help="default 8080 (0: a free one)"
    )
    _database_flags(serve)
    serve.add_argument(
        "--public-url", default=_env("PUBLIC_URL"), metavar="URL", help="default http://HOST:PORT"
    )
    serve.add_argument(
        "--kube",
        default=_env("KUBE", "auto"),
        metavar="MODE",
        help="auto (in-cluster, else $KUBECONFIG or ~/.kube/config), sim (the built-in simulated "
        "cluster), or a kubeconfig path; without a cluster the server still serves",
    )
    serve.add_argument(
        "--trusted-proxies",
        default=_env("TRUSTED_PROXIES", ""),
        metavar="CIDRS",
        help="proxies whose X-Forwarded-For is believed (comma-separated)",
    )
    serve.add_argument(
        "--ssh-port",
        type=_port,
        default=_env("SSH_PORT"),
        metavar="PORT",
        help="also serve the dashboard over SSH on this port (log in with a key added by "
        "`POST /api/v1/users/me/keys`, or a password); default: no SSH",
    )
    _instance_flags(serve)
    _environment_flags(serve)
    settings_flags.add_flags(serve)
    serve.set_defaults(run=run_serve)

    setup = commands.add_parser(
        "setup",
        help="create the first admin, or a new setup token (directly in the database)",
    )
    what = setup.add_mutually_exclusive_group(required=True)
    what.add_argument("--admin", metavar="NAME", help="create the first admin with this name")
    what.add_argument("--new-token", action="store_true", help="replace the one-time setup token")
    setup.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _database_flags(setup)
    setup.set_defaults(run=run_setup)


def run_serve(args: Namespace) -> int:
    # The server's modules load only for the commands that need them: `runway plan` stays
    # quick and works whatever state the server's dependencies are in.
    from runway.cli import serving

    return serving.run_serve(args)


def run_setup(args: Namespace) -> int:
    from runway.cli import serving

    return serving.run_setup(args)
