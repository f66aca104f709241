"""The crawl engine of one process: the Scrapy settings for newswatch and a Scrapy
process holding the one engine crawler that polls every source given to it (the one-off
crawl, the daemon's worker and a queue worker all run one)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from newswatch.config.models import Config
from newswatch.pipeline.pool import ExtractionPool
from newswatch.spiders.kinds import EngineSpider
from newswatch.spiders.loader import ConfigSpiderLoader
from newswatch.spiders.runtime import Runtime
from newswatch.spiders.safety import Approvals
from newswatch.spiders.tls import TlsPolicy


def scrapy_settings(config: Config, config_path: Path, rt: Runtime | None = None,
                    pool: ExtractionPool | None = None, **extra: Any) -> Settings:
    settings = Settings()
    settings.setmodule("newswatch.config.settings", priority="project")
    settings.set("NEWSWATCH_CONFIG", str(config_path), priority="cmdline")
    settings.set("SPIDER_LOADER_CLASS", ConfigSpiderLoader.of(config), priority="cmdline")
    if rt is not None:
        settings.set("NEWSWATCH_RUNTIME", rt, priority="cmdline")
        settings.set("NEWSWATCH_DRY_RUN", rt.dry_run, priority="cmdline")
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    # one record for the resolver and the address guard of this process's engine
    settings.set("NEWSWATCH_ADDRESSES", Approvals(), priority="cmdline")
    settings.set("NEWSWATCH_TLS", TlsPolicy(), priority="cmdline")
    if pool is not None:
        settings.set(ExtractionPool.SETTING, pool, priority="cmdline")
    for key, value in extra.items():
        settings.set(key, value, priority="cmdline")
    return settings


def engine_process(settings: Settings) -> tuple[CrawlerProcess, Crawler]:
    """A Scrapy process with the one engine crawler, the root logger left as the CLI set it."""
    level = logging.getLogger().level
    process = CrawlerProcess(settings)
    logging.getLogger().setLevel(level)  # Scrapy resets the root level; the CLI owns it
    crawler = process.create_crawler(EngineSpider)
    process.crawl(crawler)
    logging.getLogger().setLevel(level)  # creating crawlers resets it too
    # Scrapy sets its own loggers to DEBUG, and records that pass a logger's level reach
    # the root handlers whatever the root's level: two lines per page, at a measurable
    # cost, unless the CLI asked for debug output
    logging.getLogger("scrapy").setLevel(level)
    return process, crawler
