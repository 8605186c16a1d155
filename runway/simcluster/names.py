"""Name, label and key validation with the messages apimachinery gives, and Go-style value dumps."""

from __future__ import annotations

import json
import re
from typing import Any

from runway.simcluster.catalogue import NameRule
from runway.simcluster.errors import FieldError, invalid, quote

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + r"(\." + _LABEL + ")*"
_QUALIFIED = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED + ")?"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"

LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    f"used for validation is '{_LABEL}')"
)
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{_SUBDOMAIN}')"
)
_QUALIFIED_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{_QUALIFIED}')"
)
_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',"
    f"  or '12345', regex used for validation is '{_LABEL_VALUE}')"
)
_CONFIG_KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    f"'{_CONFIG_KEY}')"
)


def dns_label(value: str) -> list[str]:
    """IsDNS1123Label: the problems with a value, empty when it is a label."""
    problems = ["must be no more than 63 characters"] if len(value) > 63 else []
    if not re.fullmatch(_LABEL, value):
        if re.fullmatch(_SUBDOMAIN, value):
            problems.append("must not contain dots")
        else:
            problems.append(LABEL_MESSAGE)
    return problems


def dns_subdomain(value: str) -> list[str]:
    problems = ["must be no more than 253 characters"] if len(value) > 253 else []
    if not re.fullmatch(_SUBDOMAIN, value):
        problems.append(SUBDOMAIN_MESSAGE)
    return problems


def path_segment(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in value]


def name_problems(rule: NameRule, name: str) -> list[FieldError]:
    check = {
        NameRule.LABEL: dns_label,
        NameRule.SUBDOMAIN: dns_subdomain,
        NameRule.PATH_SEGMENT: path_segment,
    }[rule]
    return [invalid("metadata.name", name, problem) for problem in check(name)]


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName: `prefix/name` label and annotation keys."""
    prefix, _, name = value.rpartition("/")
    problems: list[str] = []
    if "/" in value and not prefix:
        problems.append("prefix part must be non-empty")
    elif prefix:
        problems += [f"prefix part {p}" for p in dns_subdomain(prefix)]
    if not name:
        problems.append("name part must be non-empty")
    else:
        if len(name) > 63:
            problems.append("name part must be no more than 63 characters")
        if not re.fullmatch(_QUALIFIED, name):
            problems.append(_QUALIFIED_MESSAGE)
    return problems


def label_problems(field: str, labels: Any) -> list[FieldError]:
    if not isinstance(labels, dict):
        return []
    problems: list[FieldError] = []
    for key, value in labels.items():
        problems += [invalid(field, key, p) for p in qualified_name(str(key))]
        text = str(value)
        if len(text) > 63:
            problems.append(invalid(field, text, "must be no more than 63 characters"))
        if not re.fullmatch(_LABEL_VALUE, text):
            problems.append(invalid(field, text, _VALUE_MESSAGE))
    return problems


def annotation_problems(annotations: Any) -> list[FieldError]:
    if not isinstance(annotations, dict):
        return []
    return [
        invalid("metadata.annotations", key, p)
        for key in annotations
        for p in qualified_name(str(key).lower())
    ]


def config_key_problems(field: str, data: Any) -> list[FieldError]:
    if not isinstance(data, dict):
        return []
    problems: list[FieldError] = []
    for key in data:
        if len(key) > 253:
            problems.append(invalid(f"{field}[{key}]", key, "must be no more than 253 characters"))
        if not re.fullmatch(_CONFIG_KEY, key):
            problems.append(invalid(f"{field}[{key}]", key, _CONFIG_KEY_MESSAGE))
        elif key in (".", "..") or key.startswith(".."):
            problems.append(invalid(f"{field}[{key}]", key, f"must not be '{key}'"))
    return problems


def go_strings(values: Any) -> str:
    """Go's `%#v` of a []string."""
    if values is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(quote(str(v)) for v in values) + "}"


def go_string_map(values: Any) -> str:
    """Go's `%#v` of a map[string]string (keys sorted, as fmt prints maps)."""
    if values is None:
        return "map[string]string(nil)"
    inner = ", ".join(f"{quote(k)}:{quote(str(values[k]))}" for k in sorted(values))
    return "map[string]string{" + inner + "}"


def go_label_selector(selector: Any) -> str:
    """Go's `%#v` of a metav1.LabelSelector, as immutable-selector errors print it."""
    selector = selector if isinstance(selector, dict) else {}
    expressions = selector.get("matchExpressions")
    if expressions is None:
        rendered = "[]v1.LabelSelectorRequirement(nil)"
    else:
        rendered = (
            "[]v1.LabelSelectorRequirement{"
            + ", ".join(
                f"v1.LabelSelectorRequirement{{Key:{json.dumps(e.get('key', ''))}, "
                f"Operator:{json.dumps(e.get('operator', ''))}, "
                f"Values:{go_strings(e.get('values'))}}}"
                for e in expressions
                if isinstance(e, dict)
            )
            + "}"
        )
    return (
        f"v1.LabelSelector{{MatchLabels:{go_string_map(selector.get('matchLabels'))}, "
        f"MatchExpressions:{rendered}}}"
    )
