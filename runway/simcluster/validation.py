"""Validation a real API server does on the kinds runway writes: what is refused, and the warnings.

Not every rule of kube-apiserver: the ones a renderer can trip over (names, labels, selectors,
containers, ports, restart policies) and every immutable field FACTS.md records.
"""

from __future__ import annotations

from typing import Any

from runway.simcluster.catalogue import ResourceType
from runway.simcluster.errors import (
    FieldError,
    Object,
    forbidden,
    go_struct,
    invalid,
    not_supported,
    required,
)
from runway.simcluster.names import (
    annotation_problems,
    config_key_problems,
    dns_label,
    go_label_selector,
    go_string_map,
    go_strings,
    label_problems,
    name_problems,
)
from runway.simcluster.quantity import value_of

_WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet")
_IMMUTABLE_SET = "field is immutable when `immutable` is set"


def validate(
    rt: ResourceType, obj: Object, old: Object | None
) -> tuple[list[FieldError], list[str]]:
    """Problems with a create (old is None) or an update, and the warnings to send with success."""
    metadata = obj.get("metadata") or {}
    errors: list[FieldError] = []
    warnings: list[str] = []
    if old is None:
        errors += name_problems(rt.names, str(metadata.get("name", "")))
        if rt.kind in (*_WORKLOADS, "Job") and (problems := dns_label(metadata.get("name", ""))):
            warnings.append(
                "metadata.name: this is used in Pod names and hostnames, which can result in "
                f"surprising behavior; a DNS label is recommended: [{', '.join(problems)}]"
            )
    errors += label_problems("metadata.labels", metadata.get("labels"))
    errors += annotation_problems(metadata.get("annotations"))
    check = _KINDS.get(rt.kind)
    if check is not None:
        errors += check(obj)
    if old is not None:
        errors += _finalizers(obj, old)
        immutable = _IMMUTABLE.get(rt.kind)
        if immutable is not None:
            errors += immutable(obj, old)
    return errors, warnings


def validate_status(rt: ResourceType, obj: Object) -> list[FieldError]:
    """Rules on a status write: a Deployment cannot have more available replicas than replicas."""
    status = obj.get("status") or {}
    errors: list[FieldError] = []
    if rt.kind in _WORKLOADS:
        replicas = status.get("replicas", 0) or 0
        for field in ("readyReplicas", "availableReplicas", "updatedReplicas"):
            value = status.get(field)
            if isinstance(value, int) and value < 0:
                errors.append(
                    invalid(f"status.{field}", value, "must be greater than or equal to 0")
                )
            if field != "updatedReplicas" and isinstance(value, int) and value > replicas:
                errors.append(
                    invalid(f"status.{field}", value, "cannot be greater than status.replicas")
                )
        ready, available = status.get("readyReplicas", 0) or 0, status.get("availableReplicas")
        if rt.kind == "Deployment" and isinstance(available, int) and available > ready:
            errors.append(
                invalid(
                    "status.availableReplicas", available, "cannot be greater than readyReplicas"
                )
            )
    return errors


def _finalizers(obj: Object, old: Object) -> list[FieldError]:
    if not old["metadata"].get("deletionTimestamp"):
        return []
    before = old["metadata"].get("finalizers") or []
    added = [f for f in obj["metadata"].get("finalizers") or [] if f not in before]
    if not added:
        return []
    return [
        forbidden(
            "metadata.finalizers",
            "no new finalizers can be added if the object is being deleted, found new finalizers "
            + go_strings(added),
        )
    ]


def _pod_spec(spec: Any, path: str, restart: tuple[str, ...] | None) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [required(f"{path}.containers")]
    errors: list[FieldError] = []
    containers = spec.get("containers")
    if not containers:
        errors.append(required(f"{path}.containers"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            where = f"{path}.{group}[{index}]"
            if not isinstance(container, dict):
                continue
            name = container.get("name")
            if not name:
                errors.append(required(f"{where}.name"))
            else:
                errors += [invalid(f"{where}.name", name, p) for p in dns_label(str(name))]
                if name in seen:
                    errors.append(FieldError("Duplicate", f"{where}.name", "", f'"{name}"'))
                seen.add(str(name))
            if not container.get("image"):
                errors.append(required(f"{where}.image"))
            for n, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort") if isinstance(port, dict) else None
                if not isinstance(number, int) or not 1 <= number <= 65535:
                    errors.append(
                        invalid(
                            f"{where}.ports[{n}].containerPort",
                            number if number is not None else 0,
                            "must be between 1 and 65535, inclusive",
                        )
                    )
    policy = spec.get("restartPolicy")
    if restart and policy not in restart:
        errors.append(not_supported(f"{path}.restartPolicy", policy, list(restart)))
    return errors


def _workload(obj: Object) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errors.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec["template"] if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels")
    if not isinstance(selector, dict):
        errors.append(required("spec.selector"))
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errors.append(
            FieldError(
                "Invalid",
                "spec.selector",
                f"empty selector is invalid for {obj.get('kind', '').lower()}",
                go_label_selector(selector),
            )
        )
    elif not _selector_matches(selector, labels or {}):
        errors.append(
            FieldError(
                "Invalid",
                "spec.template.metadata.labels",
                "`selector` does not match template `labels`",
                go_string_map(labels),
            )
        )
    errors += label_problems("spec.template.metadata.labels", labels)
    errors += _pod_spec(template.get("spec"), "spec.template.spec", ("Always",))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
        errors.append(
            forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            )
        )
    return errors


def _selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, op = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def _job(obj: Object) -> list[FieldError]:
    spec = obj.get("spec") or {}
    template = spec["template"] if isinstance(spec.get("template"), dict) else {}
    return _pod_spec(template.get("spec"), "spec.template.spec", ("OnFailure", "Never"))


def _pod(obj: Object) -> list[FieldError]:
    return _pod_spec(obj.get("spec"), "spec", None)


def _service(obj: Object) -> list[FieldError]:
    spec = obj.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return [] if spec.get("externalName") else [required("spec.externalName")]
    ports = spec.get("ports") or []
    errors: list[FieldError] = []
    if not ports and spec.get("clusterIP") != "None":
        errors.append(required("spec.ports"))
    for index, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(
                invalid(
                    f"spec.ports[{index}].port",
                    number or 0,
                    "must be between 1 and 65535, inclusive",
                )
            )
        if len(ports) > 1 and not port.get("name"):
            errors.append(required(f"spec.ports[{index}].name"))
    return errors


def _config_map(obj: Object) -> list[FieldError]:
    return config_key_problems("data", obj.get("data")) + config_key_problems(
        "binaryData", obj.get("binaryData")
    )


def _secret(obj: Object) -> list[FieldError]:
    return config_key_problems("data", obj.get("data"))


def _claim(obj: Object) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    if not spec.get("accessModes"):
        errors.append(required("spec.accessModes", "at least 1 access mode is required"))
    requests = (spec.get("resources") or {}).get("requests") or {}
    if "storage" not in requests and not spec.get("dataSourceRef"):
        errors.append(required("spec.resources[storage]"))
    return errors


def _ingress(obj: Object) -> list[FieldError]:
    errors: list[FieldError] = []
    for r, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
        for p, path in enumerate(((rule or {}).get("http") or {}).get("paths") or []):
            if isinstance(path, dict) and not path.get("pathType"):
                errors.append(
                    required(
                        f"spec.rules[{r}].http.paths[{p}].pathType", "pathType must be specified"
                    )
                )
    return errors


_KINDS = {
    "Deployment": _workload,
    "ReplicaSet": _workload,
    "StatefulSet": _workload,
    "Job": _job,
    "Pod": _pod,
    "Service": _service,
    "ConfigMap": _config_map,
    "Secret": _secret,
    "PersistentVolumeClaim": _claim,
    "Ingress": _ingress,
}


def _spec(obj: Object) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _selector_immutable(obj: Object, old: Object) -> list[FieldError]:
    new_selector, old_selector = _spec(obj).get("selector"), _spec(old).get("selector")
    if new_selector == old_selector:
        return []
    return [
        FieldError(
            "Invalid", "spec.selector", "field is immutable", go_label_selector(new_selector)
        )
    ]


def _job_immutable(obj: Object, old: Object) -> list[FieldError]:
    spec, before = _spec(obj), _spec(old)
    errors: list[FieldError] = []
    if spec.get("selector") != before.get("selector"):
        errors += _selector_immutable(obj, old)
    if spec.get("template") != before.get("template"):
        dump = "core.PodTemplateSpec" + go_struct(spec.get("template"))
        errors.append(FieldError("Invalid", "spec.template", "field is immutable", dump))
    if spec.get("completions") != before.get("completions") and (
        spec.get("completionMode") != "Indexed"
        or spec.get("completions") != spec.get("parallelism")
    ):
        errors.append(invalid("spec.completions", spec.get("completions"), "field is immutable"))
    if spec.get("completionMode") != before.get("completionMode"):
        errors.append(
            invalid("spec.completionMode", spec.get("completionMode"), "field is immutable")
        )
    return errors


def _data_immutable(fields: tuple[str, ...]) -> Any:
    def check(obj: Object, old: Object) -> list[FieldError]:
        errors: list[FieldError] = []
        if obj.get("kind") == "Secret" and obj.get("type") != old.get("type"):
            errors.append(invalid("type", obj.get("type"), "field is immutable"))
        if not old.get("immutable"):
            return errors
        if not obj.get("immutable"):
            errors.append(forbidden("immutable", _IMMUTABLE_SET))
        errors += [forbidden(f, _IMMUTABLE_SET) for f in fields if obj.get(f) != old.get(f)]
        return errors

    return check


def _service_immutable(obj: Object, old: Object) -> list[FieldError]:
    spec, before = _spec(obj), _spec(old)
    if "ExternalName" in (spec.get("type"), before.get("type")):
        return []
    new_ips, old_ips = spec.get("clusterIPs") or [], before.get("clusterIPs") or []
    if new_ips[:1] == old_ips[:1]:
        return []
    return [
        FieldError("Invalid", "spec.clusterIPs[0]", "may not change once set", go_strings(new_ips))
    ]


def claim_spec_problems(obj: Object, old: Object) -> list[FieldError]:
    """A PVC's spec is immutable but for a bound claim's storage request (never below capacity)."""
    spec, before = dict(_spec(obj)), dict(_spec(old))
    status = old.get("status") or {}
    errors: list[FieldError] = []
    bound = status.get("phase") == "Bound"
    if bound:
        new_request = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        capacity = (status.get("capacity") or {}).get("storage")
        if (
            new_request is not None
            and capacity is not None
            and value_of(new_request) < value_of(capacity)
        ):
            errors.append(
                forbidden(
                    "spec.resources.requests.storage", "field can not be less than status.capacity"
                )
            )
        for side in (spec, before):
            resources = dict(side.get("resources") or {})
            resources["requests"] = {
                k: v for k, v in (resources.get("requests") or {}).items() if k != "storage"
            }
            side["resources"] = resources
            side.pop("volumeAttributesClassName", None)
    if spec != before:
        lines = [
            f"  \t- {k}: {go_struct(before.get(k))}"
            for k in sorted(before)
            if before.get(k) != spec.get(k)
        ]
        lines += [
            f"  \t+ {k}: {go_struct(spec.get(k))}"
            for k in sorted(spec)
            if before.get(k) != spec.get(k)
        ]
        diff = "\n".join(["  core.PersistentVolumeClaimSpec{", *lines, "  }"])
        errors.append(
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                f"volumeAttributesClassName for bound claims\n{diff}\n",
            )
        )
    return errors


_IMMUTABLE = {
    "Deployment": _selector_immutable,
    "ReplicaSet": _selector_immutable,
    "StatefulSet": _selector_immutable,
    "Job": _job_immutable,
    "ConfigMap": _data_immutable(("data", "binaryData")),
    "Secret": _data_immutable(("data",)),
    "Service": _service_immutable,
    "PersistentVolumeClaim": claim_spec_problems,
}
