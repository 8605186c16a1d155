"""ResourceQuota admission as kube-apiserver does it: a quota counts once its `status.hard` is
filled, and an object that would take its namespace over it is refused (403) with the real
message. The usage it checks against is kept up to date on every write (QuotaUsage), exactly,
instead of summed again at each admission."""

from __future__ import annotations

import logging
import math
import weakref
from fractions import Fraction

from runway.simcluster.catalogue import ResourceType
from runway.simcluster.errors import Forbidden, Object, quote
from runway.simcluster.quantity import canonical, value_of
from runway.simcluster.store import Store

log = logging.getLogger("runway.simcluster")


# -- ResourceQuota -----------------------------------------------------------------------------

Amount = tuple[Fraction, bool]  # an exact value, and whether it is written in binary units
_COMPUTE = ("cpu", "memory", "ephemeral-storage")
_MUST_SPECIFY = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory")
_LEGACY_COUNTS = {
    "configmaps": "/configmaps",
    "secrets": "/secrets",
    "resourcequotas": "/resourcequotas",
    "replicationcontrollers": "/replicationcontrollers",
}
_BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def amount(text: object) -> Amount:
    value = str(text)
    return value_of(value), value.endswith(_BINARY_SUFFIXES)


def quantity(value: Amount) -> str:
    """The canonical text of an amount (`2`, `500m`, `256Mi`), as a real quota writes it."""
    number, binary = value
    if binary and number.denominator == 1 and abs(number) >= 1024:
        whole, power = int(number), 0
        while whole % 1024 == 0 and power < len(_BINARY_SUFFIXES):
            whole, power = whole // 1024, power + 1
        return f"{whole}{_BINARY_SUFFIXES[power - 1]}" if power else str(whole)
    return canonical(f"{math.ceil(number * 10**9)}n")


def _add(total: dict[str, Amount], name: str, value: Amount) -> None:
    before = total.get(name)
    if before is None or before[0] == 0:
        total[name] = value if before is None else (before[0] + value[0], value[1])
    else:
        total[name] = (before[0] + value[0], before[1])


def usage(kind: str, obj: Object) -> dict[str, Amount]:
    """What one object counts against a quota, by quota resource name."""
    one: Amount = (Fraction(1), False)
    found: dict[str, Amount] = {}
    spec = obj.get("spec") or {}
    if kind == "Pod":
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return {}
        found["pods"] = found["count/pods"] = one
        for field in ("requests", "limits"):
            for name, value in _pod_resources(spec, field).items():
                found[f"{field}.{name}"] = value
                if field == "requests" and name in _COMPUTE:
                    found[name] = value
    elif kind == "PersistentVolumeClaim":
        found["persistentvolumeclaims"] = found["count/persistentvolumeclaims"] = one
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        class_name = spec.get("storageClassName")
        if class_name:
            found[f"{class_name}.storageclass.storage.k8s.io/persistentvolumeclaims"] = one
        if storage is not None:
            found["requests.storage"] = amount(storage)
            if class_name:
                found[f"{class_name}.storageclass.storage.k8s.io/requests.storage"] = amount(
                    storage
                )
    elif kind == "Service":
        found["services"] = found["count/services"] = one
        service_type = spec.get("type")
        ports = len(spec.get("ports") or [])
        if service_type == "LoadBalancer":
            found["services.loadbalancers"] = one
        allocates = spec.get("allocateLoadBalancerNodePorts") is not False
        if service_type == "NodePort" or (service_type == "LoadBalancer" and allocates):
            found["services.nodeports"] = (Fraction(ports), False)
    return found


def _pod_resources(spec: Object, field: str) -> dict[str, Amount]:
    """A pod's effective requests or limits: the containers' sum, or an init container's
    larger value (init containers run one at a time)."""
    total: dict[str, Amount] = {}
    for container in spec.get("containers") or []:
        for name, value in (((container or {}).get("resources") or {}).get(field) or {}).items():
            _add(total, name, amount(value))
    for container in spec.get("initContainers") or []:
        for name, value in (((container or {}).get("resources") or {}).get(field) or {}).items():
            init = amount(value)
            if name not in total or init[0] > total[name][0]:
                total[name] = init
    return total


_USAGE_SOURCES = {
    "Pod": "/pods",
    "PersistentVolumeClaim": "/persistentvolumeclaims",
    "Service": "/services",
}
"""The kinds whose objects' usage is summed, in the order the sums take them."""
_KIND_OF = {key: kind for kind, key in _USAGE_SOURCES.items()}


class _Sum:
    """One quota resource's total over the objects of one kind in one namespace.

    The total is exact (Fractions, added and taken away once per write). Whether it is written
    in binary units is that of the first object, in key order, that adds something: with every
    such object agreeing (nearly always) that is known from two counts; otherwise (or with a
    negative amount, after which "first" depends on the running total) the members are summed
    again in key order, as a recount would."""

    __slots__ = ("binary", "decimal", "members", "negative", "total")

    def __init__(self) -> None:
        self.total = Fraction(0)
        self.binary = self.decimal = self.negative = 0
        self.members: dict[tuple[str, str], Amount] = {}

    def add(self, key: tuple[str, str], value: Amount, sign: int) -> None:
        """Count `value` for the object at `key` (sign 1) or stop counting it (sign -1)."""
        if sign > 0:
            self.members[key] = value
        else:
            del self.members[key]
        number, binary = value
        self.total += number if sign > 0 else -number
        if number < 0:
            self.negative += sign
        elif number > 0 and binary:
            self.binary += sign
        elif number > 0:
            self.decimal += sign

    def amount(self) -> Amount:
        if not self.negative and not (self.binary and self.decimal):
            return self.total, self.binary > 0
        summed: dict[str, Amount] = {}
        for key in sorted(self.members):
            _add(summed, "", self.members[key])
        return summed[""]


def _counts_alike(old: Object, new: Object) -> bool:
    """Whether a new state counts as the old one did without reading it: what `usage` reads
    (the spec, a pod's phase) is the very same (a status write shares the spec it keeps)."""
    before, after = old.get("status") or {}, new.get("status") or {}
    return old.get("spec") is new.get("spec") and before.get("phase") == after.get("phase")


def _usage_or_none(kind: str, obj: Object) -> dict[str, Amount]:
    # Stored quantities were checked when decoded; should one not read, it counts nothing
    # rather than failing the store's write halfway.
    try:
        return usage(kind, obj)
    except ValueError:
        log.exception("runway-sim (simulated): cannot count %s against quotas", kind)
        return {}


class QuotaUsage:
    """What each namespace's pods, claims and services count against quotas, kept up to date
    as the store writes them: an admission reads its sums instead of summing the namespace
    (thousands of pods) again for each new object."""

    def __init__(self, store: Store) -> None:
        self._sums: dict[tuple[str, str], dict[str, _Sum]] = {}  # (namespace, kind) -> sums
        self._counted: dict[tuple[str, str, str], dict[str, Amount]] = {}
        for key in _KIND_OF:
            for obj in store.items(key):
                self.changed(key, None, obj)
        store.observers.append(self.changed)

    def changed(self, resource: str, old: Object | None, new: Object | None) -> None:
        """A store write: `old` stops counting, `new` starts (None: none)."""
        kind = _KIND_OF.get(resource)
        if kind is None or (old is not None and new is not None and _counts_alike(old, new)):
            return
        meta = (new or old or {})["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        sums = self._sums.setdefault((key[0], kind), {})
        before = self._counted.pop((resource, *key), None)
        for name, value in (before or {}).items():
            sums[name].add(key, value, -1)
        if new is None:
            return
        found = self._counted[(resource, *key)] = _usage_or_none(kind, new)
        for name, value in found.items():
            total = sums.get(name)
            if total is None:
                total = sums[name] = _Sum()
            total.add(key, value, 1)

    def sums(self, namespace: str, kind: str) -> dict[str, _Sum]:
        """The totals, by quota resource, over one kind's objects in a namespace."""
        return self._sums.get((namespace, kind), {})


def _combined(parts: list[_Sum]) -> Amount:
    """The kinds' totals added in order, as one pass over their objects would add them."""
    if any(part.negative for part in parts):  # the running total decides: add them one by one
        summed: dict[str, Amount] = {}
        for part in parts:
            for key in sorted(part.members):
                _add(summed, "", part.members[key])
        return summed[""]
    total: dict[str, Amount] = {}
    for part in parts:
        _add(total, "", part.amount())
    return total[""]


_TRACKED: weakref.WeakKeyDictionary[Store, QuotaUsage] = weakref.WeakKeyDictionary()


def quota_usage(store: Store) -> QuotaUsage:
    """The store's usage sums, counted once on first use and kept up to date from then on."""
    tracked = _TRACKED.get(store)
    if tracked is None:
        tracked = _TRACKED[store] = QuotaUsage(store)
    return tracked


def namespace_usage(store: Store, namespace: str, names: list[str]) -> dict[str, Amount]:
    """What a namespace uses of each quota resource in `names` (the quota controller's sums)."""
    used: dict[str, Amount] = {}
    computed: dict[str, Amount] = {}
    needed = {_source_of(name) for name in names if _count_key(name) is None}
    kinds = [quota_usage(store).sums(namespace, kind) for kind in _USAGE_SOURCES if kind in needed]
    for name in names:  # only what is asked is summed (a pod's admission reads no claims)
        parts = [sums[name] for sums in kinds if name in sums and sums[name].members]
        if parts:
            computed[name] = _combined(parts)
    for name in names:
        counted = _count_key(name)
        if counted is not None:
            used[name] = (Fraction(store.count_in(counted, namespace)), False)
        elif name in computed:
            used[name] = computed[name]
        elif _known(name):
            used[name] = (Fraction(0), False)
    return used


def _source_of(name: str) -> str:
    """Which kind's objects a computed quota resource sums."""
    if name.startswith("services"):
        return "Service"
    if name in ("persistentvolumeclaims", "requests.storage"):
        return "PersistentVolumeClaim"
    if ".storageclass.storage.k8s.io/" in name:
        return "PersistentVolumeClaim"
    return "Pod"


def _count_key(name: str) -> str | None:
    if name in _LEGACY_COUNTS:
        return _LEGACY_COUNTS[name]
    if not name.startswith("count/"):
        return None
    resource = name.removeprefix("count/")
    plural, _, group = resource.partition(".")
    return f"{group}/{plural}"


def _known(name: str) -> bool:
    if name in ("pods", "services", "services.loadbalancers", "services.nodeports"):
        return True
    if name in ("persistentvolumeclaims", "requests.storage") or name in _COMPUTE:
        return True
    if name.endswith((".storageclass.storage.k8s.io/requests.storage", "/persistentvolumeclaims")):
        return True
    return name.startswith(("requests.", "limits."))


def admit_quota(store: Store, rt: ResourceType, obj: Object, old: Object | None) -> None:
    """ResourceQuota admission: a quota counts once its `status.hard` is filled; then an object
    that would take the namespace over it is refused (403) with kube-apiserver's message."""
    if not rt.namespaced:
        return
    metadata = obj["metadata"]
    namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
    quotas = [
        q for q in store.items("/resourcequotas", namespace) if (q.get("status") or {}).get("hard")
    ]
    if not quotas:
        return
    delta = usage(rt.kind, obj)
    if old is None:
        delta[f"count/{rt.qualified}"] = (Fraction(1), False)
        legacy = next((n for n, key in _LEGACY_COUNTS.items() if key == rt.key), None)
        if legacy is not None:
            delta[legacy] = (Fraction(1), False)
    else:
        for key, value in usage(rt.kind, old).items():
            before = delta.get(key, (Fraction(0), value[1]))
            delta[key] = (before[0] - value[0], before[1])
    for resource_quota in quotas:
        quota_name = resource_quota["metadata"]["name"]
        hard: dict[str, str] = resource_quota["status"]["hard"]
        if rt.kind == "Pod" and old is None:
            missing = _missing_requests(obj, [r for r in hard if r in _MUST_SPECIFY])
            if missing:
                raise Forbidden(
                    f"{rt.qualified} {quote(name)} is forbidden: failed quota: {quota_name}: "
                    f"must specify {missing}",
                    details=rt.details(name),
                )
        requested = {r: delta[r] for r in hard if r in delta and delta[r][0] > 0}
        if not requested:
            continue
        used = namespace_usage(store, namespace, list(requested))
        exceeded = sorted(
            r
            for r, value in requested.items()
            if used.get(r, (Fraction(0), False))[0] + value[0] > amount(hard[r])[0]
        )
        if exceeded:
            shown_used = {r: used.get(r, (Fraction(0), False)) for r in exceeded}
            raise Forbidden(
                f"{rt.qualified} {quote(name)} is forbidden: exceeded quota: {quota_name}, "
                f"requested: {_listed({r: requested[r] for r in exceeded})}, "
                f"used: {_listed(shown_used)}, "
                f"limited: {_listed({r: amount(hard[r]) for r in exceeded})}",
                details=rt.details(name),
            )


def _listed(values: dict[str, Amount]) -> str:
    return ",".join(f"{name}={quantity(values[name])}" for name in sorted(values))


def _missing_requests(pod: Object, required: list[str]) -> str:
    """`requests.cpu for: a,b; limits.memory for: a`: what the containers fail to specify."""
    spec = pod.get("spec") or {}
    missing: dict[str, set[str]] = {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        resources = (container or {}).get("resources") or {}
        for resource in required:
            field, _, name = resource.rpartition(".")
            if name not in (resources.get(field or "requests") or {}):
                missing.setdefault(resource, set()).add(str(container.get("name", "")))
    return "; ".join(f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing))
