"""The format's vocabulary in one place: keys, name rules and limits that both the validator and
the JSON Schema are built from, so the two cannot drift apart."""

from __future__ import annotations

import re

LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""A DNS label that starts with a letter (apps, services, volumes)."""
LABEL_RULE = "a lowercase DNS label starting with a letter (a-z, 0-9 and '-')"
INPUT_NAME_PATTERN = r"^[a-z_][a-z0-9_]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
HOST_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
REGISTRY_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?$"
)
# The image reference grammar of the distribution project, without the digest algorithms it
# does not accept: [host[:port]/]path[:tag][@sha256:hex].
IMAGE_PATTERN = (
    r"^([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*"
    r"(:[0-9]+)?/)?"
    r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)

MOUNT_PATTERN = r"^/$|^(/(?!\.\.?(/|$))[^/]+)+$"
"""An absolute path without `.`, `..`, empty segments or a trailing slash."""
REFERENCE_PATTERN = r".*\$\{\{.*"
"""A string holding a reference: checked once its answers are known, not by its pattern."""
IMAGE_OR_REFERENCE_PATTERN = f"^({IMAGE_PATTERN[1:-1]}|{REFERENCE_PATTERN})$"
HOST_OR_REFERENCE_PATTERN = f"^({HOST_PATTERN[1:-1]}|{REFERENCE_PATTERN})$"

APP_MAX = 20
SERVICE_MAX = 30
VOLUME_MAX = 20
INPUT_MAX = 63
HOST_MAX = 253
IMAGE_MAX = 512
PROMPT_MAX = 200
DESCRIPTION_MAX = 2000
PATTERN_MAX = 500
GENERATE_RANGE = (8, 256)
PORT_RANGE = (1, 65535)
RETRIES_MAX = 100
TIMEOUT_MAX = 24 * 3600

TOP_KEYS = ("runway", "app", "inputs", "registries", "services")
TOP_REQUIRED = ("runway", "app", "services")
INPUT_KEYS = ("prompt", "description", "type", "default", "choices", "pattern", "generate")
INPUT_REQUIRED = ("prompt",)
REGISTRY_KEYS = ("username", "password")
SERVICE_KEYS = (
    "kind",
    "image",
    "command",
    "args",
    "env",
    "ports",
    "replicas",
    "depends_on",
    "volumes",
    "ready",
    "expose",
    "resources",
    "retries",
    "timeout",
)
SERVICE_REQUIRED = ("image",)
JOB_ONLY_KEYS = ("retries",)
SERVICE_ONLY_KEYS = ("replicas", "volumes", "ready", "expose")
VOLUME_KEYS = ("mount", "size")
READY_HTTP_KEYS = ("http", "port")
READY_TCP_KEYS = ("tcp",)
EXPOSE_KEYS = ("port", "host")
RESOURCES_KEYS = ("requests", "limits")
RESOURCE_KEYS = ("cpu", "memory")

LABEL = re.compile(LABEL_PATTERN)
INPUT_NAME = re.compile(INPUT_NAME_PATTERN)
ENV_NAME = re.compile(ENV_NAME_PATTERN)
HOST = re.compile(HOST_PATTERN)
REGISTRY = re.compile(REGISTRY_PATTERN)
IMAGE = re.compile(IMAGE_PATTERN)
MOUNT = re.compile(MOUNT_PATTERN)


def image_host(image: str) -> str:
    """The registry host an image is pulled from (`docker.io` when the reference names none)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"
