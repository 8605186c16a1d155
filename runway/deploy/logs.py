"""Reading a step's container logs live from the cluster (DESIGN.md: container logs are not
stored; they are read when someone asks).

The pods of a workload are found by label (a Deployment's selector, a Job's `job-name`), then
each container's `pods/{name}/log` is read; with `follow`, as a stream that the API server ends
when that run of the container ends. Lines of several pods (or containers) are interleaved as
they come, each tagged with its pod and container.

A container that has not started (`ContainerCreating`, an image still pulling, a pod not
scheduled) has no log yet: that is said in one plain line (a notice), not as an error. With
`follow` it is then watched until it starts, and read from there; the notices say each new
state once. Following ends when every container followed has ended (and no new pod of the
workload has appeared by then), or when the caller stops reading: close the iterator
(`contextlib.aclosing`) to close its connections at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from runway.deploy.apply import RETRY, Retry, retrying
from runway.deploy.connection import REQUEST_TIMEOUT, Cluster
from runway.deploy.errors import DeployError, NotFound, PermanentError, TemporaryError

POLL = 1.0
"""Seconds between two looks at a pod whose container has not started yet (with `follow`)."""
QUEUED = 1000
"""Lines read ahead of the caller, at most (then the reading waits for the caller)."""
JOB_NAME_LABEL = "job-name"


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of a container's output (without its line ending), or, when `notice`, runway's
    own word about the container (not started yet, gone). `tagged` when lines of several pods
    or containers are interleaved: `str()` then says whose line it is."""

    pod: str
    container: str
    text: str
    notice: bool = False
    tagged: bool = False

    def __str__(self) -> str:
        if self.notice:
            return f"runway: {self.text}"
        return f"[{self.pod}/{self.container}] {self.text}" if self.tagged else self.text


async def workload_logs(
    cluster: Cluster,
    namespace: str,
    kind: str,
    name: str,
    *,
    container: str | None = None,
    tail_lines: int | None = None,
    follow: bool = False,
    poll: float = POLL,
    retry: Retry = RETRY,
) -> AsyncIterator[LogLine]:
    """The log lines of the pods of a `Deployment` or `Job` (every container, or only
    `container`): the last `tail_lines` of each (None: all), then, with `follow`, new lines as
    they are written, until the containers end.

    NotFound when the Deployment does not exist; PermanentError for a kind that has no pods
    of its own. Temporary errors are retried (`retry`); a followed stream that drops is
    followed again from its end (lines written meanwhile may be missing, and a notice says
    so)."""
    selector = await pod_selector(cluster, namespace, kind, name, retry)
    reader = _Reader(cluster, namespace, container, tail_lines, follow, poll, retry)
    async for line in reader.run(selector, f"{kind} {name}"):
        yield line


async def pod_selector(
    cluster: Cluster, namespace: str, kind: str, name: str, retry: Retry = RETRY
) -> str:
    """The label selector of a workload's pods: a Deployment's own selector (read from the
    cluster), a Job's `job-name=<name>`."""
    if kind == "Job":
        return f"{JOB_NAME_LABEL}={name}"
    if kind != "Deployment":
        raise PermanentError(f"runway reads the logs of Deployments and Jobs, not of a {kind}")
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    try:
        found = await retrying(lambda: cluster.request("GET", path), retry)
    except NotFound:
        raise NotFound(f"the Deployment {name} does not exist in {namespace}") from None
    selector = label_selector((found.get("spec") or {}).get("selector") or {})
    if not selector:
        raise PermanentError(f"the Deployment {name} has no selector: it has no pods of its own")
    return selector


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector (`matchLabels`, `matchExpressions`) as the `labelSelector` query
    parameter writes it."""
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(str(v) for v in expression.get("values") or ())
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def not_started(pod: Mapping[str, Any], container: str) -> str | None:
    """Why a container of a pod has no log to read yet, in plain words; None when it has one
    (it runs, or it ran: a crash-looping container shows its last run)."""
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name")
    entries = [
        *(status.get("containerStatuses") or ()),
        *(status.get("initContainerStatuses") or ()),
    ]
    entry = next((e for e in entries if e.get("name") == container), None)
    if entry is not None:
        state = entry.get("state") or {}
        if "running" in state or "terminated" in state:
            return None
        if (entry.get("lastState") or {}).get("terminated"):
            return None
        reason = (state.get("waiting") or {}).get("reason") or "not started yet"
        return f"the container {container} of pod {name} is waiting to start: {reason}"
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            why = condition.get("reason") or "no node yet"
            return f"the pod {name} is not scheduled yet ({why})"
    return f"the container {container} of pod {name} has not started yet"


Item = LogLine | DeployError | None
"""What a container's reader hands over: a line, the error that stopped it, or None (done)."""


class _Reader:
    """Reads the containers of a workload's pods concurrently into one queue."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        container: str | None,
        tail_lines: int | None,
        follow: bool,
        poll: float,
        retry: Retry,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.container = container
        self.tail_lines = tail_lines
        self.follow = follow
        self.poll = poll
        self.retry = retry
        self.seen: set[tuple[str, str]] = set()

    async def run(self, selector: str, what: str) -> AsyncIterator[LogLine]:
        queue: asyncio.Queue[Item] = asyncio.Queue(QUEUED)
        tasks: set[asyncio.Task[None]] = set()
        reading = 0  # readers whose last item (None, or an error) has not come yet
        try:
            pods = await self._pods(selector)
            if not pods:
                yield LogLine("", "", f"the {what} has no pods yet", notice=True)
            while self.follow and not pods:
                await asyncio.sleep(self.poll)
                pods = await self._pods(selector)
            while pods:
                for pod in pods:
                    for container in self._containers(pod):
                        key = (str(pod["metadata"]["name"]), container)
                        if key not in self.seen:
                            self.seen.add(key)
                            tasks.add(asyncio.create_task(self._read(pod, container, queue)))
                            reading += 1
                while reading:
                    item = await queue.get()
                    if isinstance(item, DeployError):
                        raise item
                    if item is None:
                        reading -= 1
                    else:
                        yield replace(item, tagged=len(self.seen) > 1)
                pods = await self._new_pods(selector) if self.follow else []
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pods(self, selector: str) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        query = [("labelSelector", selector)]
        answer = await retrying(lambda: self.cluster.request("GET", path, query=query), self.retry)
        pods = [p for p in answer.get("items") or () if isinstance(p, dict) and p.get("metadata")]
        return sorted(
            pods,
            key=lambda p: (str(p["metadata"].get("creationTimestamp")), p["metadata"]["name"]),
        )

    async def _new_pods(self, selector: str) -> list[dict[str, Any]]:
        """The pods that appeared while the others were followed (a Job's next try, say)."""
        return [
            pod
            for pod in await self._pods(selector)
            if any((pod["metadata"]["name"], c) not in self.seen for c in self._containers(pod))
        ]

    def _containers(self, pod: dict[str, Any]) -> list[str]:
        names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or ()]
        return [n for n in names if self.container is None or n == self.container]

    async def _read(self, pod: dict[str, Any], container: str, out: asyncio.Queue[Item]) -> None:
        """Hand one container's lines over, then None, or the error that stopped it."""
        last: Item = None
        try:
            async for line in self._container(pod, container):
                await out.put(line)
        except DeployError as error:
            last = error
        except Exception as error:  # a mistake here must not leave the caller waiting for ever
            name = pod["metadata"]["name"]
            last = DeployError(f"reading the log of {name}/{container} failed: {error!r}")
        await out.put(last)

    async def _container(self, pod: dict[str, Any], container: str) -> AsyncIterator[LogLine]:
        """One container's lines; with `follow`, once it has started, until it ends."""
        name = str(pod["metadata"]["name"])
        said: str | None = None
        while True:
            problem = not_started(pod, container)
            if problem is None:
                try:
                    async for line in self._stream(name, container):
                        yield line
                    return
                except NotFound:
                    yield LogLine(name, container, f"the pod {name} is gone", notice=True)
                    return
                except PermanentError as error:
                    # The pod changed since it was read: the kubelet says why (a 400).
                    _, waiting, why = error.message.partition(" is waiting to start")
                    if not waiting:
                        raise
                    problem = f"the container {container} of pod {name} is waiting to start{why}"
            if problem != said:
                yield LogLine(name, container, problem, notice=True)
                said = problem
            if not self.follow:
                return
            await asyncio.sleep(self.poll)
            found = await self._pod(name)
            if found is None:
                yield LogLine(name, container, f"the pod {name} is gone", notice=True)
                return
            pod = found

    async def _pod(self, name: str) -> dict[str, Any] | None:
        path = f"/api/v1/namespaces/{self.namespace}/pods/{name}"
        return await retrying(lambda: self.cluster.get(path), self.retry)

    async def _stream(self, pod: str, container: str) -> AsyncIterator[LogLine]:
        """`pods/{pod}/log` of one container, line by line. A temporary failure before the
        first line is retried; while following, a dropped stream is followed again from its
        end (`tailLines=0`)."""
        path = f"/api/v1/namespaces/{self.namespace}/pods/{pod}/log"
        tail, failures = self.tail_lines, 0
        timeout = None if self.follow else REQUEST_TIMEOUT
        while True:
            query = [("container", container)]
            if tail is not None:
                query.append(("tailLines", str(tail)))
            if self.follow:
                query.append(("follow", "true"))
            got = False
            try:
                async with self.cluster.stream(path, query=query, read_timeout=timeout) as lines:
                    async for raw in lines:
                        got, failures = True, 0
                        text = raw.decode("utf-8", "replace").rstrip("\n").removesuffix("\r")
                        yield LogLine(pod, container, text)
                return
            except TemporaryError as error:
                failures += 1
                if failures >= self.retry.tries or (got and not self.follow):
                    raise
                if got:
                    tail = 0
                    dropped = "the log stream dropped: following again (lines may be missing)"
                    yield LogLine(pod, container, dropped, notice=True)
                await asyncio.sleep(self.retry.delay(failures - 1, error))
