"""Label and field selectors, parsed with Kubernetes' grammar and matched against stored objects."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runway.simcluster.errors import BadRequest, Object

Matcher = Callable[[Object], bool]

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|<|>|[^\s!=(),<>]+)")
_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
# Kinds whose field selectors accept more than the metadata fields (kind -> field -> path).
_EXTRA_FIELDS: dict[str, dict[str, str]] = {
    "Pod": {
        "spec.nodeName": "spec.nodeName",
        "spec.restartPolicy": "spec.restartPolicy",
        "spec.schedulerName": "spec.schedulerName",
        "spec.serviceAccountName": "spec.serviceAccountName",
        "spec.hostNetwork": "spec.hostNetwork",
        "status.phase": "status.phase",
        "status.podIP": "status.podIP",
        "status.nominatedNodeName": "status.nominatedNodeName",
    },
    "Event": {
        **{f"involvedObject.{f}": f"involvedObject.{f}" for f in ("kind", "namespace", "name")},
        **{f"involvedObject.{f}": f"involvedObject.{f}" for f in ("uid", "apiVersion")},
        **{f"involvedObject.{f}": f"involvedObject.{f}" for f in ("resourceVersion", "fieldPath")},
        "reason": "reason",
        "reportingComponent": "reportingComponent",
        "source": "source.component",
        "type": "type",
    },
    "Secret": {"type": "type"},
    "Namespace": {"status.phase": "status.phase"},
    "Job": {"status.successful": "status.succeeded"},
    "ReplicaSet": {"status.replicas": "status.replicas"},
}


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: `key op values`."""

    key: str
    op: str  # exists, !, =, !=, in, notin, <, >
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        try:
            number = int(value or "")
        except ValueError:
            return False
        bound = int(self.values[0])
        return number < bound if self.op == "<" else number > bound


def parse_labels(text: str) -> list[Requirement]:
    """Parse `app=web,tier in (a,b),!legacy`; raise BadRequest like a real server."""
    tokens = [t for t in _TOKEN.findall(text) if t]
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise BadRequest(f"unable to parse requirement: invalid label selector: {text!r}")
    requirements: list[Requirement] = []
    position = 0

    def take() -> str:
        nonlocal position
        token = tokens[position] if position < len(tokens) else ""
        position += 1
        return token

    def fail(found: str, expected: str) -> BadRequest:
        return BadRequest(f"unable to parse requirement: found '{found}', expected: {expected}")

    while position < len(tokens):
        token = take()
        if token == "!":
            requirements.append(Requirement(_key(take()), "!"))
        else:
            key = _key(token)
            nxt = tokens[position] if position < len(tokens) else ","
            if nxt == ",":
                requirements.append(Requirement(key, "exists"))
            elif nxt in ("=", "==", "!="):
                take()
                following = tokens[position] if position < len(tokens) else ","
                value = "" if following == "," else take()
                requirements.append(Requirement(key, "!=" if nxt == "!=" else "=", (value,)))
            elif nxt in ("in", "notin"):
                take()
                if take() != "(":
                    raise fail(tokens[position - 1], "'('")
                values: list[str] = []
                while (token := take()) != ")":
                    if token == "":
                        raise fail("", "')'")
                    if token != ",":
                        values.append(token)
                requirements.append(Requirement(key, nxt, tuple(values)))
            elif nxt in ("<", ">"):
                take()
                bound = take()
                if not re.fullmatch(r"-?[0-9]+", bound):
                    raise BadRequest(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must "
                        f"be an integer: {bound}"
                    )
                requirements.append(Requirement(key, nxt, (bound,)))
            else:
                raise fail(nxt, "',' or 'end of string'")
        if position < len(tokens) and take() != ",":
            raise fail(tokens[position - 1], "',' or 'end of string'")
    return requirements


def _key(token: str) -> str:
    if not token or token in "!=(),<>":
        raise BadRequest(f"unable to parse requirement: found '{token}', expected: identifier")
    return token


def label_hint(text: str) -> tuple[str, str] | None:
    """A label (key, value) every object the selector matches has, if it says one (`app=web`,
    `app in (web)`): what narrows a list or a watch to the objects so labelled."""
    for requirement in parse_labels(text):
        if requirement.op in ("=", "in") and len(requirement.values) == 1:
            return requirement.key, requirement.values[0]
    return None


def name_hint(text: str) -> str | None:
    """The name every object a field selector matches has, if it says one (`metadata.name=x`)."""
    for term in _split(text, ","):
        for op in ("!=", "==", "="):
            parts = _split(term, op, limit=1)
            if len(parts) == 2:
                if op != "!=" and parts[0] == "metadata.name":
                    return _unescape(parts[1])
                break
    return None


def label_matcher(text: str) -> Matcher:
    requirements = parse_labels(text)

    def matches(obj: Object) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(r.matches(labels) for r in requirements)

    return matches


def field_matcher(kind: str, text: str) -> Matcher:
    """A matcher for `metadata.name=x,status.phase!=Running` on a kind; BadRequest when unknown."""
    extra = _EXTRA_FIELDS.get(kind)
    terms: list[tuple[str, str, str]] = []
    for term in _split(text, ","):
        if not term:
            continue
        for op in ("!=", "==", "="):
            parts = _split(term, op, limit=1)
            if len(parts) == 2:
                label, value = parts
                break
        else:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
        path = label if label in _COMMON_FIELDS else (extra or {}).get(label)
        if path is None:
            if extra is None:
                raise BadRequest(
                    f'"{label}" is not a known field selector: only "metadata.name", '
                    '"metadata.namespace"'
                )
            raise BadRequest(f"field label not supported: {label}")
        terms.append((path, "!=" if op == "!=" else "=", _unescape(value)))

    def matches(obj: Object) -> bool:
        for path, op, value in terms:
            actual = _field_value(obj, path)
            if (actual == value) != (op == "="):
                return False
        return True

    return matches


def _field_value(obj: Object, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, bool):
        return "true" if node else "false"
    return "" if node is None else str(node)


def _split(text: str, separator: str, limit: int = -1) -> list[str]:
    """Split on a separator not escaped with a backslash."""
    parts: list[str] = []
    start = index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(separator, index) and (limit < 0 or len(parts) < limit):
            parts.append(text[start:index])
            index += len(separator)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
