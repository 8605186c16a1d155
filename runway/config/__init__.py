"""The configuration format (`runway: 1`): loading, validation and the typed model. Pure: no I/O."""

from __future__ import annotations

from typing import Literal

from runway.config.collector import collector_paused
from runway.config.errors import ConfigError, Path, Problem, format_path
from runway.config.model import (
    Config,
    Expose,
    Input,
    InputType,
    Ready,
    Registry,
    ResourceList,
    Resources,
    Service,
    ServiceKind,
    Volume,
)
from runway.config.source import Document, load
from runway.config.validate import build_config

__all__ = [
    "Config",
    "ConfigError",
    "Document",
    "Expose",
    "Input",
    "InputType",
    "Path",
    "Problem",
    "Ready",
    "Registry",
    "ResourceList",
    "Resources",
    "Service",
    "ServiceKind",
    "Volume",
    "build_config",
    "format_path",
    "load",
    "parse_config",
]


def parse_config(source: bytes | str, *, format: Literal["yaml", "json"] | None = None) -> Config:
    """Load and validate a configuration; raise ConfigError listing every problem."""
    with collector_paused():
        return build_config(load(source, format=format))
