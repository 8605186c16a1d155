"""Image references as a container runtime reads them, for the simulated kubelet."""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (
    r"(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]+)?"
)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?"
)


def valid_image(image: str) -> bool:
    """Whether an image reference parses (the container runtime's reference grammar)."""
    name = image.split("@", 1)[0]
    return _REFERENCE.fullmatch(image) is not None and len(name) <= 255


def image_tag(image: str) -> str:
    """The tag of an image reference (`web:crash` -> `crash`), `""` without one."""
    tail = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else ""


def full_reference(image: str) -> str:
    """`nginx:1` -> `docker.io/library/nginx:1`, as the runtime names what it pulls."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    if "/" not in image:
        image = f"library/{image}"
    return f"docker.io/{image}"


def go_duration(seconds: float) -> str:
    """A duration as Go prints one: `10s`, `1m20s`, `5m0s`."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60}s"
