"""Configuration: the YAML schema (pydantic models), its loader and the Scrapy settings."""

from newswatch.config.loader import ConfigError, ConfigIssue, default_config_path, load_config
from newswatch.config.models import Config, CrawlOptions, Source, Watch

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
