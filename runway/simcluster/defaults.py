"""What a real API server fills in: defaults per kind, canonical quantities, initial status.

Every function works in place on a private copy and is idempotent, so applying it after every
write (including a server-side apply that removed a field) restores defaults and changes nothing
the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runway.simcluster.errors import Object
from runway.simcluster.quantity import canonical

_PROBE = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
_MODE_420 = ("secret", "configMap", "projected", "downwardAPI")


def _set(mapping: dict[str, Any], key: str, value: Any) -> Any:
    if mapping.get(key) is None:
        mapping[key] = value
    return mapping[key]


def _map(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    value = mapping.get(key)
    if not isinstance(value, dict):
        value = mapping[key] = {}
    return value


def _items(mapping: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = mapping.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def normalise_quantities(kind: str, obj: Object) -> None:
    """Canonical quantities where the kinds served keep them (`1000m` -> `1`).

    Raises QuantityError for a value that is not a quantity (a 400 at decoding, like a real server).
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind == "Pod":
        _pod_quantities(spec)
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "Job"):
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            _pod_quantities(template["spec"])
        for claim in _items(spec, "volumeClaimTemplates"):
            if isinstance(claim.get("spec"), dict):
                _resource_lists(claim["spec"].get("resources"))
    elif kind == "PersistentVolumeClaim":
        _resource_lists(spec.get("resources"))
    elif kind == "ResourceQuota":
        _quantity_map(spec, "hard")
    elif kind == "LimitRange":
        for item in _items(spec, "limits"):
            for field in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
                _quantity_map(item, field)


def _pod_quantities(spec: dict[str, Any]) -> None:
    for group in ("containers", "initContainers"):
        for container in _items(spec, group):
            _resource_lists(container.get("resources"))
    for volume in _items(spec, "volumes"):
        empty_dir = volume.get("emptyDir")
        if isinstance(empty_dir, dict) and empty_dir.get("sizeLimit") is not None:
            empty_dir["sizeLimit"] = canonical(empty_dir["sizeLimit"])


def _resource_lists(resources: Any) -> None:
    if isinstance(resources, dict):
        _quantity_map(resources, "requests")
        _quantity_map(resources, "limits")


def _quantity_map(mapping: dict[str, Any], key: str) -> None:
    values = mapping.get(key)
    if isinstance(values, dict):
        mapping[key] = {k: canonical(v) for k, v in values.items()}


def pod_spec(spec: dict[str, Any], *, pod: bool = False) -> None:
    """SetDefaults_PodSpec and the container defaults; `pod` adds what admission sets on Pods."""
    _set(spec, "restartPolicy", "Always")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "securityContext", {})
    _set(spec, "schedulerName", "default-scheduler")
    _set(spec, "enableServiceLinks", True)
    for group in ("initContainers", "containers"):
        for container in _items(spec, group):
            _container(container, pod=pod)
    for volume in _items(spec, "volumes"):
        for source in _MODE_420:
            if isinstance(volume.get(source), dict):
                _set(volume[source], "defaultMode", 420)
    if pod:
        account = _set(spec, "serviceAccountName", spec.get("serviceAccount") or "default")
        _set(spec, "serviceAccount", account)
        _set(spec, "priority", 0)
        _set(spec, "preemptionPolicy", "PreemptLowerPriority")
        if spec.get("tolerations") is None:
            spec["tolerations"] = [
                {
                    "key": f"node.kubernetes.io/{taint}",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
                for taint in ("not-ready", "unreachable")
            ]


def _container(container: dict[str, Any], *, pod: bool) -> None:
    _set(container, "terminationMessagePath", "/dev/termination-log")
    _set(container, "terminationMessagePolicy", "File")
    _set(container, "imagePullPolicy", _pull_policy(str(container.get("image") or "")))
    resources = _set(container, "resources", {})
    if pod and isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        requests = _map(resources, "requests")
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)
    for port in _items(container, "ports"):
        _set(port, "protocol", "TCP")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(name)
        if isinstance(probe, dict):
            for key, value in _PROBE.items():
                _set(probe, key, value)
            if isinstance(probe.get("httpGet"), dict):
                _set(probe["httpGet"], "scheme", "HTTP")
    for env in _items(container, "env"):
        source = env.get("valueFrom")
        if isinstance(source, dict) and isinstance(source.get("fieldRef"), dict):
            _set(source["fieldRef"], "apiVersion", "v1")


def _pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    tail = image.rsplit("/", 1)[-1]
    tag = tail.split(":", 1)[1] if ":" in tail else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec(_map(template, "spec"))


def _deployment(obj: Object) -> None:
    spec = _map(obj, "spec")
    _set(spec, "replicas", 1)
    strategy = _map(spec, "strategy")
    if _set(strategy, "type", "RollingUpdate") == "RollingUpdate":
        rolling = _map(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", "25%")
        _set(rolling, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _template(spec)


def _replicaset(obj: Object) -> None:
    spec = _map(obj, "spec")
    _set(spec, "replicas", 1)
    _template(spec)


def _statefulset(obj: Object) -> None:
    spec = _map(obj, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = _map(spec, "updateStrategy")
    if _set(strategy, "type", "RollingUpdate") == "RollingUpdate":
        _set(_map(strategy, "rollingUpdate"), "partition", 0)
    _set(spec, "revisionHistoryLimit", 10)
    retention = _map(spec, "persistentVolumeClaimRetentionPolicy")
    _set(retention, "whenDeleted", "Retain")
    _set(retention, "whenScaled", "Retain")
    for claim in _items(spec, "volumeClaimTemplates"):
        _set(claim, "apiVersion", "v1")
        _set(claim, "kind", "PersistentVolumeClaim")
        _set(_map(claim, "spec"), "volumeMode", "Filesystem")
        _set(_map(claim, "status"), "phase", "Pending")
    _template(spec)


def _job(obj: Object) -> None:
    spec = _map(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _set(spec, "parallelism", 1)
    _set(spec, "backoffLimit", 6)
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    if spec.get("podFailurePolicy") is None:
        _set(spec, "podReplacementPolicy", "TerminatingOrFailed")
    _template(spec)


def _pod(obj: Object) -> None:
    pod_spec(_map(obj, "spec"), pod=True)


def _service(obj: Object) -> None:
    spec = _map(obj, "spec")
    kind = _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    for port in _items(spec, "ports"):
        _set(port, "protocol", "TCP")
        if port.get("targetPort") is None and port.get("port") is not None:
            port["targetPort"] = port["port"]
    if kind != "ExternalName":
        _set(spec, "ipFamilies", ["IPv4"])
        _set(spec, "ipFamilyPolicy", "SingleStack")
        _set(spec, "internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)


def _namespace(obj: Object) -> None:
    metadata = obj["metadata"]
    labels = _map(metadata, "labels")
    labels["kubernetes.io/metadata.name"] = metadata.get("name", "")
    _set(_map(obj, "spec"), "finalizers", ["kubernetes"])
    _set(_map(obj, "status"), "phase", "Active")


def _claim(obj: Object) -> None:
    _set(_map(obj, "spec"), "volumeMode", "Filesystem")
    _set(_map(obj, "status"), "phase", "Pending")


def _secret(obj: Object) -> None:
    _set(obj, "type", "Opaque")


def _storage_class(obj: Object) -> None:
    _set(obj, "reclaimPolicy", "Delete")
    _set(obj, "volumeBindingMode", "Immediate")


def _network_policy(obj: Object) -> None:
    spec = _map(obj, "spec")
    if spec.get("policyTypes") is None:
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    for direction in ("ingress", "egress"):
        for rule in _items(spec, direction):
            for port in _items(rule, "ports"):
                _set(port, "protocol", "TCP")


def _limit_range(obj: Object) -> None:
    for item in _items(_map(obj, "spec"), "limits"):
        if item.get("type") != "Container":
            continue
        maximum = item["max"] if isinstance(item.get("max"), dict) else {}
        default = _map(item, "default")
        for name, value in maximum.items():
            default.setdefault(name, value)
        request = _map(item, "defaultRequest")
        for name, value in default.items():
            request.setdefault(name, value)
        for name in ("default", "defaultRequest"):
            if not item[name]:
                del item[name]


def _binding(obj: Object) -> None:
    for subject in _items(obj, "subjects"):
        if subject.get("kind") in ("User", "Group"):
            _set(subject, "apiGroup", "rbac.authorization.k8s.io")
        elif subject.get("kind") == "ServiceAccount":
            _set(subject, "apiGroup", "")


DEFAULTS: dict[str, Callable[[Object], None]] = {
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "StatefulSet": _statefulset,
    "Job": _job,
    "Pod": _pod,
    "Service": _service,
    "Namespace": _namespace,
    "PersistentVolumeClaim": _claim,
    "Secret": _secret,
    "StorageClass": _storage_class,
    "NetworkPolicy": _network_policy,
    "LimitRange": _limit_range,
    "RoleBinding": _binding,
    "ClusterRoleBinding": _binding,
}


def apply_defaults(kind: str, obj: Object) -> None:
    """Fill in the defaults of one kind (in place)."""
    default = DEFAULTS.get(kind)
    if default is not None:
        default(obj)


def initial_status(kind: str, obj: Object) -> Object | None:
    """The status an object is created with (a client's status is dropped on create)."""
    if kind in ("Service", "Ingress"):
        return {"loadBalancer": {}}
    if kind == "PodDisruptionBudget":
        return {
            "disruptionsAllowed": 0,
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "expectedPods": 0,
        }
    if kind == "Pod":
        return {"phase": "Pending", "qosClass": _qos(obj.get("spec") or {})}
    if kind == "ReplicaSet":
        return {"replicas": 0}  # as a real server stores it (clients' models require it)
    if kind == "StatefulSet":
        return {"replicas": 0, "availableReplicas": 0}
    if kind in ("Namespace", "PersistentVolumeClaim"):
        return {}  # filled by the kind's defaults
    if kind in ("VolumeSnapshot", "VolumeSnapshotContent"):
        return None  # custom resources start without a status
    return {}


def _qos(spec: dict[str, Any]) -> str:
    requests_seen = limits_seen = 0
    guaranteed = True
    containers = _items(spec, "containers") + _items(spec, "initContainers")
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        requests_seen += len(requests)
        limits_seen += len(limits)
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not requests_seen and not limits_seen:
        return "BestEffort"
    return "Guaranteed" if guaranteed and containers else "Burstable"
