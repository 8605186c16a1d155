"""Kubernetes quantities (`500m`, `1Gi`) and durations (`90s`, `1h30m`), read exactly."""

from __future__ import annotations

import re
from fractions import Fraction

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE](?P<exponent>[+-]?[0-9]+))?"
)
_SUFFIXES = {
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
QUANTITY_PATTERN = (
    r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
"""A quantity runway accepts: never negative (parse_quantity reads signed ones too)."""

_DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
DURATION_PATTERN = r"^(?=[0-9])([0-9]+h)?([0-9]+m)?([0-9]+s)?$"


_LONGEST = 64
"""No real quantity or duration is longer: `1e999999999` would take minutes to compute exactly,
and Python refuses to read integers past 4,300 digits."""
_EXPONENT_MAX = 30


def parse_quantity(text: str) -> Fraction | None:
    """The exact value of a Kubernetes quantity (`1Gi` -> 1073741824), or None if not one."""
    match = _QUANTITY.fullmatch(text) if len(text) <= _LONGEST else None
    if match is None:
        return None
    if match["exponent"] and abs(int(match["exponent"])) > _EXPONENT_MAX:
        return None
    value = Fraction(match["number"])
    if match["suffix"]:
        value *= _SUFFIXES[match["suffix"]]
    elif match["exponent"]:
        value *= Fraction(10) ** int(match["exponent"])
    return value


QUOTA_KEYS = (
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
    "requests.storage",
    "persistentvolumeclaims",
    "pods",
)
"""The resources a user's quota and the installation's default quota may name."""


def is_amount(text: object) -> bool:
    """Whether `text` is a quantity a quota can hold: a string, zero or more (`"0"` pods
    freezes; Kubernetes refuses a negative one)."""
    value = parse_quantity(text) if isinstance(text, str) else None
    return value is not None and value >= 0


def parse_duration(text: str) -> int | None:
    """Seconds in a duration such as `90s`, `10m`, `1h30m`, or None when it is not one."""
    match = _DURATION.fullmatch(text) if len(text) <= _LONGEST else None
    if match is None or not text:
        return None
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: int) -> str:
    """The shortest duration text for a number of seconds: 600 -> `10m`, 5400 -> `1h30m`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")
