"""The kubelet's part: pods start, become ready, crash, fail or finish by their images' tags.

DESIGN.md's simulated images: an ordinary image is ready after `cluster.behaviour`'s delay (per
image, else `:slow` -> `slow_delay`, else `ready_delay`); `:pullfail` cannot be pulled
(`ErrImagePull`, then `ImagePullBackOff`); `:crash` crash-loops (`CrashLoopBackOff`, a growing
`restartCount`, `lastState.terminated`, a log); `:fail` exits 1 (a Job's pod fails); a reference
that does not parse is `InvalidImageName`. Pods that do not restart (`restartPolicy` Never or
OnFailure, as Jobs' pods) of an ordinary image exit 0 after the delay. Readiness probes are not
run: readiness is the delay. Status writes go through the status subresource as `kubelet`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runway.simcluster.controllers import CONTROLLERS, Controller
from runway.simcluster.controllers.events import record
from runway.simcluster.controllers.images import full_reference, go_duration, image_tag, valid_image
from runway.simcluster.controllers.workloads import PODS, write_status
from runway.simcluster.errors import Object
from runway.simcluster.store import Change

if TYPE_CHECKING:
    from runway.simcluster.cluster import SimCluster

log = logging.getLogger("runway.simcluster")

MANAGER = "kubelet"
HOST_IP = "172.18.0.2"
CRASH_BACKOFF = 1.0
"""The first crash loop back-off in seconds (a real kubelet's is 10 s; doubled up to the cap)."""
CRASH_BACKOFF_CAP = 30.0
PULL_BACKOFF = 1.0
"""Seconds an `ErrImagePull` shows before `ImagePullBackOff` (and the first retry's back-off)."""
CONFIG_RETRY = 1.0
"""Seconds between two tries of a container whose Secret or ConfigMap is missing, and between two
scheduling attempts of a pod whose claim is missing."""
SECRETS = "/secrets"
CONFIG_MAPS = "/configmaps"
CLAIMS = "/persistentvolumeclaims"


@dataclass
class Container:
    name: str
    image: str
    kind: str  # ok, pullfail, crash, fail, invalid
    delay: float
    restarts: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    logs: list[str] = field(default_factory=list)
    """The current (or last) run's output; each run has a list of its own."""
    previous_logs: list[str] = field(default_factory=list)
    pulls: int = 0
    spec: dict[str, Any] = field(default_factory=dict)
    followers: set[asyncio.Event] = field(default_factory=set)  # set on output, state changes
    gone: bool = False  # its pod was deleted: the container was stopped

    def say(self, line: str) -> None:
        """The container writes one line of output."""
        self.logs.append(line)
        self.wake()

    def wake(self) -> None:
        for follower in self.followers:
            follower.set()


@dataclass
class Running:
    """What the kubelet knows of one pod it runs."""

    uid: str
    namespace: str
    name: str
    restart: str  # Always, OnFailure, Never
    ip: str
    started: str
    containers: list[Container]
    ready_since: str = ""


class Kubelet(Controller):
    """Runs every pod on one simulated node."""

    watches = (PODS,)

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__(cluster)
        self.pods: dict[str, Running] = {}
        self.logs: dict[str, dict[str, Container]] = {}  # by pod uid, until the pod is deleted
        self._next_ip = 0
        self.rt = cluster.catalogue.by_key(PODS)

    # -- changes -------------------------------------------------------------------------------

    def changed(self, change: Change) -> None:
        meta = change.obj["metadata"]
        uid = meta["uid"]
        if change.type == "DELETED":
            self.pods.pop(uid, None)
            for container in self.logs.pop(uid, {}).values():
                container.gone = True
                container.wake()
            return
        if uid in self.pods or change.type != "ADDED":
            return
        if (change.obj.get("status") or {}).get("phase") not in (None, "Pending"):
            return  # a pod from before this kubelet started: leave it as it is
        if (change.obj.get("status") or {}).get("conditions"):
            return
        self._start(change.obj)

    def _start(self, pod: Object) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        if meta["uid"] in self.pods:
            return
        if not self._schedulable(pod):
            return
        self._pull_secrets(pod)
        behaviour = self.cluster.behaviour
        containers = []
        for container in spec.get("containers") or ():
            image = str(container.get("image") or "")
            tag = image_tag(image)
            if not valid_image(image):
                kind = "invalid"
            elif tag in ("pullfail", "crash", "fail"):
                kind = tag
            else:
                kind = "ok"
            delay = behaviour.image_delays.get(image)
            if delay is None:
                delay = behaviour.slow_delay if tag == "slow" else behaviour.ready_delay
            containers.append(
                Container(str(container.get("name")), image, kind, float(delay), spec=container)
            )
        self._next_ip += 1
        ip = f"10.244.{(self._next_ip // 250) % 250}.{self._next_ip % 250 + 2}"
        now = self.cluster.objects.now()
        running = Running(
            meta["uid"],
            meta.get("namespace", ""),
            meta["name"],
            str(spec.get("restartPolicy") or "Always"),
            ip,
            now,
            containers,
        )
        self.pods[running.uid] = running
        self.logs[running.uid] = {c.name: c for c in containers}
        for container in containers:
            if container.kind == "invalid":
                container.state = {
                    "waiting": {
                        "reason": "InvalidImageName",
                        "message": f'Failed to apply default image tag "{container.image}": '
                        f'couldn\'t parse image name "{container.image}": invalid reference '
                        "format",
                    }
                }
            else:
                container.state = {"waiting": {"reason": "ContainerCreating"}}
                self._after(running, container.delay, container, self._run)
        self._write(running)

    # -- what a pod refers to ------------------------------------------------------------------

    def _schedulable(self, pod: Object) -> bool:
        """A pod whose claim does not exist stays Pending, as the scheduler leaves it, and is
        tried again until the claim appears."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace = meta.get("namespace", "")
        for volume in spec.get("volumes") or ():
            claim = (volume or {}).get("persistentVolumeClaim") or {}
            name = claim.get("claimName")
            if not name or self.cluster.store.get(CLAIMS, namespace, str(name)) is not None:
                continue
            message = (
                f'0/1 nodes are available: persistentvolumeclaim "{name}" not found. '
                "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            )
            previous = pod.get("status") or {}
            old: dict[str, Any] = next(
                (c for c in previous.get("conditions") or () if c.get("type") == "PodScheduled"),
                {},
            )
            now = self.cluster.objects.now()
            status: dict[str, Any] = {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": old.get("lastTransitionTime", now),
                        "reason": "Unschedulable",
                        "message": message,
                    }
                ],
                "qosClass": previous.get("qosClass", "BestEffort"),
            }
            if previous != status:
                write_status(self.cluster, self.rt, pod, status, MANAGER)
            record(self.cluster, pod, "Warning", "FailedScheduling", message, "default-scheduler")
            self._reschedule(namespace, meta["name"], meta["uid"])
            return False
        return True

    def _reschedule(self, namespace: str, name: str, uid: str) -> None:
        def again() -> None:
            live = self.cluster.store.get(PODS, namespace, name)
            if (
                live is not None
                and live["metadata"]["uid"] == uid
                and not live["metadata"].get("deletionTimestamp")
            ):
                self._start(live)

        self.later(CONFIG_RETRY, again)

    def _pull_secrets(self, pod: Object) -> None:
        """A missing imagePullSecret is only a warning: the pull may still work."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace = meta.get("namespace", "")
        missing = [
            str(ref.get("name"))
            for ref in spec.get("imagePullSecrets") or ()
            if isinstance(ref, dict)
            and ref.get("name")
            and self.cluster.store.get(SECRETS, namespace, str(ref["name"])) is None
        ]
        if missing:
            record(
                self.cluster,
                pod,
                "Warning",
                "FailedToRetrieveImagePullSecret",
                f"Unable to retrieve some image pull secrets ({', '.join(missing)}); attempting "
                "to pull the image may not succeed.",
                "kubelet",
            )

    def _config_error(self, namespace: str, container: dict[str, Any]) -> str | None:
        """Why the kubelet cannot build a container's environment, as it says it, or None."""
        for source in container.get("envFrom") or ():
            for field_name, key, word in (
                ("secretRef", SECRETS, "secret"),
                ("configMapRef", CONFIG_MAPS, "configmap"),
            ):
                ref = (source or {}).get(field_name)
                if not isinstance(ref, dict) or ref.get("optional"):
                    continue
                name = str(ref.get("name") or "")
                if self.cluster.store.get(key, namespace, name) is None:
                    return f'{word} "{name}" not found'
        for variable in container.get("env") or ():
            value_from = (variable or {}).get("valueFrom") or {}
            for field_name, key, word, kind in (
                ("secretKeyRef", SECRETS, "secret", "Secret"),
                ("configMapKeyRef", CONFIG_MAPS, "configmap", "ConfigMap"),
            ):
                ref = value_from.get(field_name)
                if not isinstance(ref, dict) or ref.get("optional"):
                    continue
                name = str(ref.get("name") or "")
                found = self.cluster.store.get(key, namespace, name)
                if found is None:
                    return f'{word} "{name}" not found'
                wanted = str(ref.get("key") or "")
                keys = {
                    *(found.get("data") or {}),
                    *(found.get("stringData") or {}),
                    *(found.get("binaryData") or {}),
                }
                if wanted not in keys:
                    return f"couldn't find key {wanted} in {kind} {namespace}/{name}"
        return None

    # -- time ----------------------------------------------------------------------------------

    def _after(self, pod: Running, delay: float, container: Container, step: Any) -> None:
        def action() -> None:
            if self.pods.get(pod.uid) is pod:
                step(pod, container)

        self.later(delay, action)

    def _run(self, pod: Running, container: Container) -> None:
        """The container's delay is over: pulled and started, or not."""
        now = self.cluster.objects.now()
        if container.kind == "pullfail":
            container.pulls += 1
            reference = full_reference(container.image)
            message = (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{reference}": '
                f'failed to resolve reference "{reference}": {reference}: not found'
            )
            container.state = {"waiting": {"reason": "ErrImagePull", "message": message}}
            self._write(pod)
            self._after(pod, PULL_BACKOFF, container, self._pull_backoff)
            return
        problem = self._config_error(pod.namespace, container.spec)
        if problem is not None:
            # The kubelet cannot make the container: it says why, and tries again.
            container.state = {
                "waiting": {"reason": "CreateContainerConfigError", "message": problem}
            }
            self._write(pod)
            live = self.cluster.store.get(PODS, pod.namespace, pod.name)
            if live is not None:
                record(self.cluster, live, "Warning", "Failed", f"Error: {problem}", "kubelet")
            self._after(pod, CONFIG_RETRY, container, self._run)
            return
        fails = container.kind in ("crash", "fail")
        container.started = True
        container.state = {"running": {"startedAt": now}}
        if fails:
            container.say(f"simulated crash of {container.image}: exiting with code 1")
            self._terminate(pod, container, 1, now)
            return
        if pod.restart != "Always":
            container.say(f"simulated run of {container.image} completed")
            self._terminate(pod, container, 0, now)
            return
        container.ready = True
        self._write(pod)

    def _pull_backoff(self, pod: Running, container: Container) -> None:
        delay = min(PULL_BACKOFF * 2**container.pulls, 300.0)
        container.state = {
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": f'Back-off pulling image "{container.image}": ErrImagePull: '
                + str(container.state.get("waiting", {}).get("message", "")),
            }
        }
        self._write(pod)
        self._after(pod, delay, container, self._run)

    def _terminate(self, pod: Running, container: Container, code: int, now: str) -> None:
        started = container.state.get("running", {}).get("startedAt", now)
        terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": now,
            "containerID": f"containerd://{pod.uid.replace('-', '')}{container.restarts:04d}",
        }
        container.ready = False
        restarts = pod.restart == "Always" or (pod.restart == "OnFailure" and code != 0)
        if not restarts:
            container.state = {"terminated": terminated}
            self._write(pod)
            return
        container.restarts += 1
        container.last = {"terminated": terminated}
        container.previous_logs = container.logs
        backoff = min(CRASH_BACKOFF * 2 ** (container.restarts - 1), CRASH_BACKOFF_CAP)
        container.state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {go_duration(backoff)} restarting failed "
                f"container={container.name} pod={pod.name}_{pod.namespace}({pod.uid})",
            }
        }
        self._write(pod)
        self._after(pod, backoff, container, self._restart)

    def _restart(self, pod: Running, container: Container) -> None:
        # A new run: the current log is its own (the last run's stays readable as `previous`).
        container.logs = []
        self._run(pod, container)  # the same image does the same again

    # -- status --------------------------------------------------------------------------------

    def _write(self, pod: Running) -> None:
        live = self.cluster.store.get(PODS, pod.namespace, pod.name)
        if live is None or live["metadata"]["uid"] != pod.uid:
            self.pods.pop(pod.uid, None)
            return
        now = self.cluster.objects.now()
        containers = pod.containers
        done = [c for c in containers if "terminated" in c.state]
        if containers and len(done) == len(containers):
            failed = any(c.state["terminated"]["exitCode"] != 0 for c in done)
            phase = "Failed" if failed else "Succeeded"
        elif any(c.started or c.restarts for c in containers):
            phase = "Running"
        else:
            phase = "Pending"
        ready = bool(containers) and all(c.ready for c in containers)
        if ready and not pod.ready_since:
            pod.ready_since = now
        elif not ready:
            pod.ready_since = ""
        previous = live.get("status") or {}
        transitions = {
            c.get("type"): (c.get("status"), c.get("lastTransitionTime"))
            for c in previous.get("conditions") or ()
        }

        def cond(kind: str, value: bool, reason: str | None = None) -> dict[str, Any]:
            status = "True" if value else "False"
            old = transitions.get(kind)
            since = old[1] if old is not None and old[0] == status else now
            out: dict[str, Any] = {
                "type": kind,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": since,
            }
            if reason and not value:
                out["reason"] = reason
                if reason == "ContainersNotReady":
                    waiting = [c.name for c in containers if not c.ready]
                    out["message"] = f"containers with unready status: [{' '.join(waiting)}]"
            if kind in ("Ready", "ContainersReady") and phase == "Succeeded":
                out["reason"] = "PodCompleted"
            return out

        conditions = [
            cond("PodReadyToStartContainers", True),
            cond("Initialized", True),
            cond("Ready", ready, "ContainersNotReady"),
            cond("ContainersReady", ready, "ContainersNotReady"),
            cond("PodScheduled", True),
        ]
        statuses = []
        for c in containers:
            entry: dict[str, Any] = {
                "name": c.name,
                "state": c.state,
                "lastState": c.last,
                "ready": c.ready,
                "restartCount": c.restarts,
                "image": c.image,
                "imageID": "" if not c.started else f"{full_reference(c.image)}@sha256:{'0' * 64}",
                "started": c.started and "running" in c.state,
            }
            if c.started:
                entry["containerID"] = f"containerd://{pod.uid.replace('-', '')}{c.restarts:04d}"
            statuses.append(entry)
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": HOST_IP,
            "hostIPs": [{"ip": HOST_IP}],
            "podIP": pod.ip,
            "podIPs": [{"ip": pod.ip}],
            "startTime": pod.started,
            "containerStatuses": statuses,
            "qosClass": previous.get("qosClass", "BestEffort"),
        }
        write_status(self.cluster, self.rt, live, status, MANAGER)
        for c in containers:
            c.wake()


# -- logs --------------------------------------------------------------------------------------


def container_of(cluster: SimCluster, pod: Object, name: str) -> Container | None:
    """The kubelet's record of one container of a pod (its output), None when it has none."""
    for controller in cluster.controllers.running:
        if isinstance(controller, Kubelet):
            return controller.logs.get(pod["metadata"]["uid"], {}).get(name)
    return None


async def follow_log(
    container: Container, tail: int | None, stopped: Callable[[], bool]
) -> AsyncIterator[str]:
    """`follow=true`: the run's output (its last `tail` lines), then what it writes as it writes
    it, until the run stops, its pod goes, or `stopped()` when woken; or until the client leaves."""
    lines, wake = container.logs, asyncio.Event()
    sent = 0 if tail is None else max(0, len(lines) - tail)
    container.followers.add(wake)
    try:
        while not stopped():
            wake.clear()  # before looking: a line written meanwhile sets it again
            if sent < len(lines):
                chunk, sent = lines[sent:], len(lines)
                yield "".join(f"{line}\n" for line in chunk)
            elif container.gone or container.logs is not lines or "running" not in container.state:
                return
            else:
                await wake.wait()
    finally:
        container.followers.discard(wake)


CONTROLLERS.append(Kubelet)
