"""The connection to a cluster: which one (`auto`, a kubeconfig path), one kubernetes-asyncio
client for it, and the one raw request every other module of runway.deploy goes through, where
library exceptions are translated (runway.deploy.errors).

Answers are read as plain dicts, never as kubernetes-asyncio's models: those are slow to build
and some are mistyped (a DELETE's answer is not always the Status they promise)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException, load_incluster_config, new_client_from_config

from runway import __version__
from runway.deploy.errors import ClusterUnavailable, DeployError, NotFound, translate
from runway.deploy.informers import Informers

SIMULATED = "runway-sim"
"""The cluster and context name of runway's simulated cluster (runway.simcluster)."""

# kubernetes-asyncio logs every answer's body at DEBUG, a Secret's data included: never, here.
logging.getLogger("kubernetes_asyncio.client.rest").setLevel(logging.INFO)

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
REQUEST_TIMEOUT = 30.0
"""Seconds one request may take before it counts as a (temporary) failure."""

_JSON = dict.fromkeys((200, 201, 202), "object")
_FAILURES = (ApiException, aiohttp.ClientError, TimeoutError, OSError, ValueError)


class Cluster:
    """One Kubernetes cluster runway talks to, through one kubernetes-asyncio ApiClient.

    Use it as an async context manager, or call `close()`."""

    def __init__(self, api: ApiClient, *, source: str, simulated: bool) -> None:
        self.api = api
        _no_environment_lookups(api)
        self.source = source
        """Where its configuration came from: `in-cluster` or the kubeconfig's path."""
        self.simulated = simulated
        """Whether this is runway's simulated cluster (`runway-sim`), where nothing runs."""
        self.informers = Informers(self)
        """The shared watches of this cluster's collections (readiness reads them)."""

    @property
    def url(self) -> str:
        """The API server's address."""
        configuration: Configuration = self.api.configuration
        return str(configuration.host)

    async def __aenter__(self) -> Cluster:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the shared watches and close the client's connections."""
        await self.informers.close()
        await self.api.close()

    async def version(self) -> dict[str, Any]:
        """The server's `/version`; ClusterUnavailable when it cannot be reached."""
        try:
            return await self.request("GET", "/version", timeout=10.0)
        except DeployError as error:
            if isinstance(error, ClusterUnavailable):
                raise
            raise ClusterUnavailable(f"the cluster at {self.url} cannot be used: {error}") from None

    async def reachable(self) -> bool:
        """Whether the API server answers `/version`."""
        try:
            await self.version()
        except ClusterUnavailable:
            return False
        return True

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        """One API request; its JSON answer as a dict. Raises runway's DeployError (translated
        from whatever the library raised), never a library exception."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            answer = await self.api.call_api(
                path,
                method,
                query_params=list(query),
                header_params=headers,
                body=body,
                response_types_map=_JSON,
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=timeout,
            )
        except _FAILURES as error:
            raise translate(error) from None
        if not isinstance(answer, dict):
            raise translate(ValueError(f"{method} {path} answered with no JSON object"))
        return answer

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        accept: str = "application/json",
        read_timeout: float | None = REQUEST_TIMEOUT,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """A GET whose answer is read as it comes: a watch (`watch=true`, one JSON event per
        line) or a followed log. Yields the answer's lines (each with its `\\n`, the last
        perhaps without); the connection closes when the block ends.

        Errors, before the first line and while reading, are runway's DeployError: an error
        status is translated as `request` does, a dropped connection or `read_timeout`
        seconds without a byte (None: wait for ever) is a TemporaryError."""
        headers = {"Accept": accept, "Content-Type": "application/json"}
        timeout = aiohttp.ClientTimeout(connect=REQUEST_TIMEOUT, sock_read=read_timeout)
        try:
            response = await self.api.call_api(
                path,
                "GET",
                query_params=list(query),
                header_params=headers,
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=timeout,
            )
        except _FAILURES as error:
            raise translate(error) from None
        try:
            if not 200 <= response.status <= 299:
                data = await response.read()
                failed = ApiException(status=response.status, reason=response.reason)
                failed.body, failed.headers = data, response.headers
                raise translate(failed)
            yield _lines(response)
        except _FAILURES as error:
            raise translate(error) from None
        finally:
            response.release()

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object at `path`, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except NotFound:
            return None


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy")


def _no_environment_lookups(api: ApiClient) -> None:
    """kubernetes-asyncio's aiohttp session trusts the environment: before every request it
    looks for proxy variables and reads `~/.netrc` in a worker thread, which doubles runway's
    CPU per request (bench/apply.py). runway's credentials come from the kubeconfig or the
    service account, never from `.netrc`; so unless a proxy variable is set (then the
    library's behaviour stays), the session stops looking."""
    if any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES):
        return
    session = getattr(getattr(api, "rest_client", None), "pool_manager", None)
    if isinstance(session, aiohttp.ClientSession) and hasattr(session, "_trust_env"):
        session._trust_env = False


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The lines of a streamed answer, library errors translated."""
    while True:
        try:
            line = await response.content.readline()
        except _FAILURES as error:
            raise translate(error) from None
        if not line:
            return
        yield line


def user_agent(instance: str | None = None) -> str:
    """The User-Agent runway sends to the cluster: its version and, when several instances
    share the work, which one is asking (the API server's audit log then says who did what)."""
    agent = f"runway/{__version__}"
    return f"{agent} (instance {instance})" if instance else agent


async def connect(mode: str, *, instance: str | None = None) -> Cluster:
    """The cluster that `mode` names: `auto` (runway's service account inside a pod, else
    `$KUBECONFIG`, else `~/.kube/config`) or the path of a kubeconfig (a simulated cluster's
    too), its requests sent as `instance` (see `user_agent`). ClusterUnavailable, saying why,
    when there is none or it cannot be read; it does not contact the server (see
    `Cluster.reachable`)."""
    cluster = await _connect(mode)
    cluster.api.user_agent = user_agent(instance)
    return cluster


async def _connect(mode: str) -> Cluster:
    if mode == "auto":
        if os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.exists():
            return _in_cluster()
        path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
        return await _from_kubeconfig(Path(path).expanduser(), "auto: ")
    return await _from_kubeconfig(Path(mode).expanduser(), "")


def _in_cluster() -> Cluster:
    configuration = Configuration()
    try:
        load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as error:
        raise ClusterUnavailable(f"runway's service account cannot be used: {error}") from None
    return Cluster(ApiClient(configuration), source="in-cluster", simulated=False)


async def _from_kubeconfig(path: Path, said: str) -> Cluster:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClusterUnavailable(f"{said}no kubeconfig at {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ClusterUnavailable(f"{said}cannot read the kubeconfig {path}: {error}") from None
    except yaml.YAMLError as error:
        raise ClusterUnavailable(f"{said}the kubeconfig {path} is not YAML: {error}") from None
    if not isinstance(document, dict):
        raise ClusterUnavailable(f"{said}the kubeconfig {path} is not a kubeconfig")
    try:
        api = await new_client_from_config(config_file=str(path), persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as error:
        raise ClusterUnavailable(f"{said}the kubeconfig {path} cannot be used: {error}") from None
    return Cluster(api, source=str(path), simulated=_names_simulator(document))


def _names_simulator(kubeconfig: dict[str, Any]) -> bool:
    """Whether the kubeconfig's current context, or its cluster, is runway's simulator."""
    current = kubeconfig.get("current-context")
    if current == SIMULATED:
        return True
    for entry in kubeconfig.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == current:
            context = entry.get("context") or {}
            return isinstance(context, dict) and context.get("cluster") == SIMULATED
    return False
