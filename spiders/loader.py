"""The Scrapy spider loader over the config: `newswatch` is the engine spider (every
source), and each source's name is the engine spider fixed to that source, so that
`scrapy list` / `scrapy crawl NAME` work from the repository root. Also the Scrapy
settings that carry a source's crawl options, for the one-page fetch of `match`."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any, ClassVar

from scrapy import Request, Spider
from scrapy.settings import BaseSettings

from newswatch.config.loader import load_config
from newswatch.config.models import Config, CrawlOptions
from newswatch.spiders.kinds import EngineSpider


def _seconds(td: timedelta) -> float:
    return td.total_seconds()


def crawl_settings(opts: CrawlOptions) -> dict[str, Any]:
    """The Scrapy settings that carry a source's crawl options."""
    return {
        "USER_AGENT": opts.user_agent,
        "ROBOTSTXT_OBEY": opts.obey_robots,
        "ROBOTSTXT_USER_AGENT": opts.user_agent,
        "DOWNLOAD_DELAY": _seconds(opts.download_delay),
        "AUTOTHROTTLE_START_DELAY": max(_seconds(opts.download_delay), 0.1),
        "CONCURRENT_REQUESTS_PER_DOMAIN": opts.concurrency_per_domain,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(opts.concurrency_per_domain),
        "DOWNLOAD_TIMEOUT": _seconds(opts.timeout),
        "DOWNLOAD_MAXSIZE": opts.max_page_size,
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": opts.max_redirects,
    }


def source_spider(name: str) -> type[EngineSpider]:
    """The engine spider fixed to one source, for `scrapy crawl NAME`."""
    cls_name = "Spider_" + name.replace("-", "_")
    return type(cls_name, (EngineSpider,), {"name": name, "sources": [name],
                                             "__module__": __name__})


class ConfigSpiderLoader:
    """Scrapy's ISpiderLoader over the sources of the newswatch config. `scrapy list` and
    `scrapy crawl` load the file named by NEWSWATCH_CONFIG; a command that has loaded it
    already hands it over with `of(config)` rather than validate it twice (seconds, for
    a config of 10,000 watches)."""

    preloaded: ClassVar[Config | None] = None

    def __init__(self, settings: BaseSettings):
        path = settings.get("NEWSWATCH_CONFIG") or None
        self.config = self.preloaded or load_config(path)
        # a source's spider class is made when asked for: a class per source for
        # 10,000 sources is tens of megabytes in every crawl process, which runs one
        self._names = {s.name for s in self.config.sources}

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ConfigSpiderLoader:
        return cls(settings)

    @classmethod
    def of(cls, config: Config) -> type[ConfigSpiderLoader]:
        """A loader class (SPIDER_LOADER_CLASS) over this already loaded config."""
        return type("PreloadedSpiderLoader", (cls,), {"preloaded": config})

    def load(self, spider_name: str) -> type[Spider]:
        if spider_name == EngineSpider.name:
            return EngineSpider
        if spider_name in self._names:
            return source_spider(spider_name)
        raise KeyError(f"Spider not found: {spider_name}")

    def list(self) -> list[str]:
        return [EngineSpider.name, *(s.name for s in self.config.sources)]

    def find_by_request(self, request: Request) -> builtins.list[str]:
        return [name for name in self.list() if self.load(name).handles_request(request)]
