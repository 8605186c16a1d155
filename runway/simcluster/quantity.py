"""Kubernetes quantities (`500m`, `1Gi`, `1e3`) in the canonical form a real server stores."""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction

QUANTITY_PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_SHAPE = re.compile(QUANTITY_PATTERN)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_NANO = Fraction(1, 10**9)
_LONGEST = 64
_EXPONENT_MAX = 100


class QuantityError(ValueError):
    """Not a quantity; str() is the message a real server gives."""

    def __init__(self) -> None:
        super().__init__(f"quantities must match the regular expression '{QUANTITY_PATTERN}'")


def canonical(text: str | int | float) -> str:
    """The canonical spelling: `1000m` -> `1`, `0.5` -> `500m`, `2048Ki` -> `2Mi`."""
    return _canonical(str(text) if not isinstance(text, float) else repr(text))


@functools.lru_cache(maxsize=4096)  # manifests repeat the same few quantities
def _canonical(text: str) -> str:
    value, form = _parse(text)
    if value == 0:
        return "0"
    sign, magnitude = ("-", -value) if value < 0 else ("", value)
    # Precision finer than a nano is rounded up, as apimachinery does.
    magnitude = Fraction(math.ceil(magnitude / _NANO)) * _NANO
    if form == "binary" and magnitude >= 1024 and magnitude.denominator == 1:
        amount, power = int(magnitude), 0
        while amount % 1024 == 0 and power < 6:
            amount, power = amount // 1024, power + 1
        suffix = {v: k for k, v in _BINARY.items()}.get(power, "")
        return f"{sign}{amount}{suffix}"
    exponent = 18
    while exponent > -9 and (magnitude / Fraction(10) ** exponent).denominator != 1:
        exponent -= 3
    amount = int(magnitude / Fraction(10) ** exponent)
    if form == "exponent":
        return f"{sign}{amount}" + (f"e{exponent}" if exponent else "")
    return f"{sign}{amount}{_DECIMAL_SUFFIX[exponent]}"


def value_of(text: str | int | float) -> Fraction:
    """The exact amount a quantity stands for (for comparisons such as storage requests)."""
    return _parse(str(text))[0]


def _parse(text: str) -> tuple[Fraction, str]:
    # Bounded, as a real server's parser is: an exact 1e999999999 would take minutes, and int()
    # refuses numbers past 4,300 digits.
    match = _SHAPE.match(text.strip()) if len(text) <= _LONGEST else None
    if not match:
        raise QuantityError()
    number, suffix = match.groups()
    if not _NUMBER.match(number):
        raise QuantityError()
    value = Fraction(number)
    if suffix in _BINARY:
        return value * 1024 ** _BINARY[suffix], "binary"
    if suffix in _DECIMAL:
        return value * Fraction(10) ** _DECIMAL[suffix], "decimal"
    if (
        suffix[:1] in ("e", "E")
        and re.fullmatch(r"[-+]?\d+", suffix[1:])
        and abs(int(suffix[1:])) <= _EXPONENT_MAX
    ):
        return value * Fraction(10) ** int(suffix[1:]), "exponent"
    raise QuantityError()
