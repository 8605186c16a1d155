"""What an installation is made of: the choices `runway install` takes, checked before anything
is rendered, and the one error the installer raises."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from runway import __version__
from runway.auth import parse_networks
from runway.config.units import QUOTA_KEYS, is_amount, parse_quantity

DEFAULT_IMAGE = f"runway:{__version__}"
"""What `docker build -t runway:VERSION .` names the image (load it into a local cluster, or push
it to a registry and give `--image`): runway publishes no image of its own."""
POSTGRES_IMAGE = "postgres:16.6-bookworm"
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
ENVIRONMENT_PREFIX = "rw-"
"""How runway names environments' namespaces (runway.store.environments.namespace_candidates):
runway's own namespace must not look like one."""
DEFAULT_NAMESPACE = "runway"

# What one runway pod may need at most, by the server's own limits: each dashboard is a
# process of its own (runway.http.ui.processes.Limits, runway.ssh.session.Limits: 40 each, about
# 55 MB per browser dashboard and 35 MB per SSH one; 55 taken for both), and each password
# hashed takes argon2's 64 MiB (runway.auth.PasswordHasher) while it runs, a few at once.
# tests/install compares these with the server's limits.
SERVER_BASE_MIB = 320
DASHBOARDS = 40
DASHBOARD_MIB = 55
HASHES_AT_ONCE = 4
HASH_MIB = 64


class InstallError(Exception):
    """The installation cannot go ahead: an option is wrong, or the cluster refused or could
    not be reached. The message says which, in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class InstallOptions:
    """One installation of runway in a cluster. Defaults give a working one at
    `http://runway.example` once `public_url` is set."""

    public_url: str
    namespace: str = "runway"
    image: str = DEFAULT_IMAGE
    replicas: int = 2
    database_url: str | None = None
    """An existing Postgres (`postgresql://...`); None: runway's own, in a StatefulSet."""
    postgres_image: str = POSTGRES_IMAGE
    database_size: str = "5Gi"
    storage_class: str | None = None
    snapshot_class: str | None = None
    ingress_class: str | None = None
    cert_manager_issuer: str | None = None
    tls_secret: str | None = None
    apps_domain: str | None = None
    default_quota: Mapping[str, str] = field(default_factory=dict)
    ssh_port: int | None = None
    trusted_proxies: str | None = None
    ingress_namespace: str = "ingress-nginx"
    """Where the ingress controller runs: the only namespace whose pods reach runway's HTTP
    port, and the one every environment's NetworkPolicy admits besides its own."""
    memory_limit: str | None = None
    """runway's pods' memory limit; None: derived from the dashboards they may run
    (`memory_needed`)."""

    @property
    def host(self) -> str:
        return urlsplit(self.public_url).hostname or ""

    @property
    def https(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"

    @property
    def cluster_role(self) -> str:
        return cluster_names(self.namespace)[0]

    @property
    def tenant_role(self) -> str:
        """The ClusterRole runway binds in each environment's namespace."""
        return cluster_names(self.namespace)[1]

    @property
    def admission_policy(self) -> str:
        return cluster_names(self.namespace)[2]

    @property
    def memory(self) -> str:
        return self.memory_limit or f"{memory_needed(self.ssh_port is not None)}Mi"


def cluster_names(namespace: str) -> tuple[str, str, str]:
    """The names of an installation's cluster-scoped objects: its ClusterRole (and binding),
    its tenant ClusterRole, its admission policy (and binding). `runway` and `runway-tenant`
    in the namespace `runway`; elsewhere they carry the namespace after a character no
    namespace has (`runway:edit`, `runway:edit:tenant`, `runway.edit`), so that no
    namespace's names are another's or a built-in role's (`edit`, `admin`, `view`)."""
    if namespace == DEFAULT_NAMESPACE:
        return "runway", "runway-tenant", "runway"
    return f"runway:{namespace}", f"runway:{namespace}:tenant", f"runway.{namespace}"


def memory_needed(ssh: bool) -> int:
    """MiB a runway pod may need with every dashboard it allows running (SSH's as well when
    served), and a few passwords being hashed."""
    dashboards = DASHBOARDS * (2 if ssh else 1)
    return SERVER_BASE_MIB + dashboards * DASHBOARD_MIB + HASHES_AT_ONCE * HASH_MIB


def check(options: InstallOptions) -> InstallOptions:
    """The options when they make an installation; InstallError naming every problem
    otherwise."""
    problems: list[str] = []
    url = urlsplit(options.public_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        problems.append(f"--public-url: expected http(s)://HOST, got '{options.public_url}'")
    elif url.path.strip("/") or url.query or url.port is not None:
        problems.append(
            "--public-url: runway is served at the root of its host on the standard port "
            f"(https://runway.example.com), not '{options.public_url}'"
        )
    elif not DNS_NAME.match(url.hostname):
        problems.append(f"--public-url: '{url.hostname}' is not a host name")
    if not DNS_LABEL.match(options.namespace):
        problems.append(f"--namespace: '{options.namespace}' is not a DNS label")
    elif options.namespace == "default" or options.namespace.startswith("kube-"):
        problems.append(
            f"--namespace: '{options.namespace}' is the cluster's own; runway gets a namespace "
            "of its own (default runway)"
        )
    elif options.namespace.startswith(ENVIRONMENT_PREFIX):
        problems.append(
            f"--namespace: '{options.namespace}' starts with '{ENVIRONMENT_PREFIX}', as "
            "environments' namespaces do; choose another"
        )
    if not DNS_LABEL.match(options.ingress_namespace):
        problems.append(f"--ingress-namespace: '{options.ingress_namespace}' is not a DNS label")
    if options.memory_limit is not None and not _positive(options.memory_limit):
        problems.append(f"--memory-limit: '{options.memory_limit}' is not a quantity (4Gi)")
    if options.trusted_proxies:
        try:
            parse_networks(options.trusted_proxies)
        except ValueError as error:
            problems.append(f"--trusted-proxies: {error}")
    if options.cert_manager_issuer and options.tls_secret:
        problems.append("--cert-manager-issuer and --tls-secret: choose one")
    if (options.cert_manager_issuer or options.tls_secret) and not options.https:
        problems.append("TLS is set but --public-url is http://: make it https://")
    if options.https and not (options.cert_manager_issuer or options.tls_secret):
        problems.append(
            "an https --public-url needs its certificate: --cert-manager-issuer ISSUER "
            "(cert-manager issues one) or --tls-secret NAME (a Secret in the namespace)"
        )
    if options.database_url is not None and not options.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        problems.append("--database-url: expected postgresql://USER:PASSWORD@HOST/DATABASE")
    if not _positive(options.database_size):
        problems.append(f"--database-size: '{options.database_size}' is not a quantity (5Gi)")
    if options.apps_domain is not None and not DNS_NAME.match(options.apps_domain):
        problems.append(f"--apps-domain: '{options.apps_domain}' is not a domain name")
    for key, value in options.default_quota.items():
        if key not in QUOTA_KEYS:
            problems.append(f"--default-quota: unknown '{key}' (one of {', '.join(QUOTA_KEYS)})")
        elif not is_amount(value):
            problems.append(f"--default-quota: {key}={value} is not a quantity")
    if options.ssh_port is not None and not 1 <= options.ssh_port <= 65535:
        problems.append(f"--ssh-port: {options.ssh_port} is not a port")
    if options.replicas < 1:
        problems.append("--replicas: at least 1")
    for flag, name in (
        ("--storage-class", options.storage_class),
        ("--snapshot-class", options.snapshot_class),
        ("--ingress-class", options.ingress_class),
        ("--tls-secret", options.tls_secret),
        ("--cert-manager-issuer", options.cert_manager_issuer),
    ):
        if name is not None and not DNS_NAME.match(name):
            problems.append(f"{flag}: '{name}' is not a Kubernetes name")
    if problems:
        raise InstallError("; ".join(problems))
    return options


def parse_quota(items: list[str]) -> dict[str, str]:
    """`--default-quota requests.cpu=2 --default-quota pods=20` as a dict; InstallError for an
    item without `=`."""
    quota: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key or not value:
            raise InstallError(f"--default-quota: expected RESOURCE=QUANTITY, got '{item}'")
        quota[key.strip()] = value.strip()
    return quota


def _positive(text: str) -> bool:
    """A size that can be asked for: a Kubernetes quantity above zero."""
    value = parse_quantity(text)
    return value is not None and value > 0
