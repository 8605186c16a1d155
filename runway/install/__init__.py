"""Installing runway into a cluster (`runway install`, `runway uninstall`): its manifests
(pure), its rights (runway.install.rbac), and applying them through runway.deploy."""

from runway.install.installer import (
    SetupToken,
    find_setup_token,
    install,
    public_url,
    uninstall,
    wait_until_ready,
)
from runway.install.manifests import render
from runway.install.options import InstallError, InstallOptions, check, parse_quota

__all__ = [
    "InstallError",
    "InstallOptions",
    "SetupToken",
    "check",
    "find_setup_token",
    "install",
    "parse_quota",
    "public_url",
    "render",
    "uninstall",
    "wait_until_ready",
]
