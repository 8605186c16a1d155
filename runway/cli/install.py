"""`runway install` and `runway uninstall`: runway, its Postgres, its rights, Service and
Ingress in a cluster (runway.install), or their YAML with `--dry-run`."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from runway.cli.common import Commands, Namespace, fail, say

if TYPE_CHECKING:
    from runway.deploy.connection import Cluster
    from runway.install import InstallOptions

WAIT = 300.0


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(text)
    return port


def _kube(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--kube",
        default=os.environ.get("RUNWAY_KUBE", "auto"),
        metavar="MODE",
        help="the cluster: auto ($KUBECONFIG, else ~/.kube/config) or a kubeconfig path",
    )
    add("--namespace", default="runway", help="runway's own namespace (default runway)")


def add_commands(commands: Commands) -> None:
    install = commands.add_parser(
        "install",
        help="install runway in a cluster (or print its YAML with --dry-run)",
        description="Apply runway, its Postgres, its rights, Service and Ingress to a cluster "
        "with server-side apply (again: an upgrade, keeping the database and its password).",
    )
    add = install.add_argument
    add("--public-url", metavar="URL", help="where people reach runway (https://runway.example)")
    add("--dry-run", action="store_true", help="print the YAML; change nothing")
    add(
        "--show-secrets",
        action="store_true",
        help="with --dry-run: print the database password and URL (default: REDACTED)",
    )
    add(
        "--show-setup-token",
        action="store_true",
        help="print the one-time setup token from the log of runway's pods",
    )
    _kube(install)
    add(
        "--image",
        help="runway's image as the cluster pulls it (default runway:VERSION, as `docker "
        "build -t runway:VERSION .` names it: push it to a registry, or load it into the cluster)",
    )
    add("--replicas", type=int, default=2, help="runway's instances (default 2)")
    add(
        "--database-url",
        metavar="URL",
        help="an existing Postgres (kept in a Secret); default: runway's own StatefulSet",
    )
    add("--database-size", default="5Gi", help="the volume of runway's own Postgres (5Gi)")
    add("--postgres-image", help="the image of runway's own Postgres")
    add("--storage-class", metavar="NAME", help="storage class of volumes (default: cluster's)")
    add("--snapshot-class", metavar="NAME", help="VolumeSnapshotClass of restore points")
    add("--ingress-class", metavar="NAME", help="ingress class (default: the cluster's)")
    tls = install.add_mutually_exclusive_group()
    tls.add_argument("--cert-manager-issuer", metavar="ISSUER", help="cert-manager ClusterIssuer")
    tls.add_argument("--tls-secret", metavar="NAME", help="an existing TLS Secret for the host")
    add("--apps-domain", metavar="DOMAIN", help="the domain apps' hosts may be under")
    add(
        "--default-quota",
        action="append",
        default=[],
        metavar="RESOURCE=QUANTITY",
        help="a user's quota when they have none of their own (repeat: requests.cpu=2 pods=20)",
    )
    add("--ssh-port", type=_port, metavar="PORT", help="serve the dashboard over SSH on PORT")
    add(
        "--trusted-proxies",
        metavar="CIDRS",
        help="the ingress controller's pods' addresses, whose X-Forwarded-For runway believes "
        "(never the pods' whole network: a tenant's pod could forge it)",
    )
    add(
        "--ingress-namespace",
        default="ingress-nginx",
        metavar="NAMESPACE",
        help="the ingress controller's namespace: the only one that reaches runway's HTTP "
        "port, and the one environments admit (default ingress-nginx)",
    )
    add(
        "--memory-limit",
        metavar="QUANTITY",
        help="runway's pods' memory limit (default: enough for every dashboard it allows)",
    )
    add("--no-wait", action="store_true", help="do not wait for runway to be ready")
    add("--timeout", type=float, default=WAIT, help="seconds to wait for runway (default 300)")
    install.set_defaults(run=run_install)

    uninstall = commands.add_parser(
        "uninstall",
        help="remove runway from a cluster (keeping its database unless --delete-data)",
        description="Delete what `runway install` made. The database's volume and Secret, and "
        "so the namespace, stay unless --delete-data. Environments' namespaces and the apps "
        "running in them are left as they are.",
    )
    _kube(uninstall)
    uninstall.add_argument(
        "--delete-data", action="store_true", help="also delete the database, for good"
    )
    uninstall.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for runway's pods to stop (default 120)",
    )
    uninstall.set_defaults(run=run_uninstall)


def options_of(args: Namespace) -> InstallOptions:
    """The options the flags give; InstallError naming every problem."""
    from runway.install import InstallError, InstallOptions, check, parse_quota
    from runway.install.options import DEFAULT_IMAGE, POSTGRES_IMAGE

    if not args.public_url:
        raise InstallError("--public-url is needed: where people reach runway (https://...)")
    options = check(
        InstallOptions(
            public_url=args.public_url,
            namespace=args.namespace,
            image=args.image or DEFAULT_IMAGE,
            replicas=args.replicas,
            database_url=args.database_url,
            postgres_image=args.postgres_image or POSTGRES_IMAGE,
            database_size=args.database_size,
            storage_class=args.storage_class,
            snapshot_class=args.snapshot_class,
            ingress_class=args.ingress_class,
            cert_manager_issuer=args.cert_manager_issuer,
            tls_secret=args.tls_secret,
            apps_domain=args.apps_domain,
            default_quota=parse_quota(args.default_quota),
            ssh_port=args.ssh_port,
            trusted_proxies=args.trusted_proxies,
            ingress_namespace=args.ingress_namespace,
            memory_limit=args.memory_limit,
        )
    )
    refused_by_server(options)
    return options


def refused_by_server(options: InstallOptions) -> None:
    """InstallError when `runway serve` would refuse a setting the installation gives it (its
    pods would crash-loop while install waits): checked as the server checks them."""
    from runway.http import installation
    from runway.install import InstallError

    raw: dict[str, object] = {"public_url": options.public_url}
    if options.trusted_proxies:
        raw["trusted_proxies"] = [p.strip() for p in options.trusted_proxies.split(",") if p]
    if options.apps_domain:
        raw["apps_domain"] = options.apps_domain
    if options.ingress_class:
        raw["ingress_class"] = options.ingress_class
    if options.cert_manager_issuer:
        raw["tls"] = {"issuer": options.cert_manager_issuer}
    if options.default_quota:
        raw["default_quota"] = dict(options.default_quota)
    _, problems = installation.check(raw)
    if problems:
        raise InstallError(
            "runway serve would refuse: " + "; ".join(f"{path}: {m}" for path, m in problems)
        )


def run_install(args: Namespace) -> int:
    from runway.install import InstallError

    try:
        if args.show_setup_token:
            return _connected(args.kube, lambda cluster: _show_token(cluster, args.namespace))
        options = options_of(args)
        if args.dry_run:
            return _dry_run(options, args.show_secrets)
        return _connected(args.kube, lambda cluster: _install(cluster, options, args))
    except InstallError as error:
        return fail(error.message)


def run_uninstall(args: Namespace) -> int:
    from runway.install import InstallError, uninstall

    async def work(cluster: Cluster) -> int:
        await uninstall(cluster, args.namespace, args.delete_data, say, args.timeout)
        say(
            "environments' namespaces (label app.kubernetes.io/managed-by=runway) and their "
            "apps are left as they are"
        )
        return 0

    try:
        return _connected(args.kube, work)
    except InstallError as error:
        return fail(error.message)


REDACTED = "REDACTED"


def redacted_url(url: str) -> str:
    """A database URL without its password (in the user part or a `password=` parameter)."""
    import re

    url = re.sub(r"^([a-z]+://[^:/@]*):[^@/]*@", rf"\1:{REDACTED}@", url)
    return re.sub(r"([?&]password=)[^&]*", rf"\1{REDACTED}", url)


def _dry_run(options: InstallOptions, show_secrets: bool) -> int:
    import dataclasses

    import yaml

    from runway.install import render
    from runway.install.installer import new_password

    if show_secrets:
        password = None if options.database_url else new_password()
        token = new_password()
        note = (
            "The database password and the metrics token in it are new; `runway install` "
            "keeps existing ones."
        )
    else:
        password = None if options.database_url else REDACTED
        token = REDACTED
        if options.database_url:
            options = dataclasses.replace(options, database_url=redacted_url(options.database_url))
        note = (
            f"The database password and the metrics token are {REDACTED} (base64 in the "
            "Secrets): --show-secrets prints them."
        )
    print(
        f"# runway install --dry-run: what `runway install` applies (server-side apply).\n# {note}"
    )
    print(yaml.safe_dump_all(render(options, password, token), sort_keys=False), end="")
    return 0


def _connected(kube: str, work: Callable[[Cluster], Awaitable[int]]) -> int:
    """Run `work(cluster)` with the cluster `kube` names; InstallError when there is none."""
    from runway.deploy.connection import connect
    from runway.deploy.errors import ClusterUnavailable
    from runway.install import InstallError

    async def run() -> int:
        try:
            cluster = await connect(kube, instance="install")
        except ClusterUnavailable as error:
            raise InstallError(str(error)) from None
        async with cluster:
            return await work(cluster)

    return asyncio.run(run())


async def _install(cluster: Cluster, options: InstallOptions, args: Namespace) -> int:
    from runway.install import install, wait_until_ready

    await install(cluster, options, say)
    url = options.public_url.rstrip("/")
    if args.no_wait:
        say(f"runway is installed in namespace {options.namespace} (not waited for)")
    else:
        say(f"waiting for runway to be ready (at most {args.timeout:g} s)...")
        say(await wait_until_ready(cluster, options, args.timeout))
        say(f"runway is ready at {url}")
    say(
        "next: runway install --show-setup-token   (the one-time token that creates the first "
        f"admin at {url}/ui/)"
    )
    return 0


async def _show_token(cluster: Cluster, namespace: str) -> int:
    from runway.install import find_setup_token, public_url

    found = await find_setup_token(cluster, namespace)
    if found is None:
        return fail(
            "no setup token in the log of runway's pods: runway has an admin already, or its "
            "pods started again since; make a new token with: kubectl -n "
            f"{namespace} exec deploy/runway -- runway setup --new-token"
        )
    url = await public_url(cluster, namespace) or "PUBLIC_URL"
    say(f"setup token (valid until {found.valid_until}, printed by pod {found.pod}):")
    say(f"  {found.token}")
    say(f"create the first admin with it at {url}/ui/, or:")
    say(
        f"  curl -X POST {url}/api/v1/setup -H 'Content-Type: application/json' -d "
        '\'{"setup_token": "TOKEN", "username": "NAME", "password": "..."}\''
    )
    return 0
