"""Configuration: the YAML schema (pydantic models), its loader and the Scrapy settings.

The names below are imported when first used (PEP 562): importing a light module of
this package (units, times, private) must not load pydantic and the loader with it."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newswatch.config.loader import (
        ConfigError,
        ConfigIssue,
        default_config_path,
        load_config,
    )
    from newswatch.config.models import Config, CrawlOptions, Source, Watch

_WHERE = {
    "Config": "models", "CrawlOptions": "models", "Source": "models", "Watch": "models",
    "ConfigError": "loader", "ConfigIssue": "loader", "default_config_path": "loader",
    "load_config": "loader",
}

__all__ = [
    "Config",
    "ConfigError",
    "ConfigIssue",
    "CrawlOptions",
    "Source",
    "Watch",
    "default_config_path",
    "load_config",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
