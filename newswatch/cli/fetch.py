"""Fetch one page through Scrapy with the crawl's safety settings, outside any crawl:
nothing is stored, no run is recorded, and a page already stored is fetched anyway."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess

from newswatch.config.models import Config
from newswatch.service.engine import scrapy_settings
from newswatch.spiders.page import page_spider

log = logging.getLogger(__name__)


class FetchError(Exception):
    pass


def fetch_page(config: Config, config_path: Path, url: str) -> dict[str, Any]:
    """{url, body, charset, status, source}; FetchError when the page cannot be had."""
    result: dict[str, Any] = {}
    settings = scrapy_settings(
        config, config_path, NEWSWATCH_DRY_RUN=True, LOG_LEVEL="WARNING", ITEM_PIPELINES={},
        EXTENSIONS={"newswatch.spiders.board.PollBoard": None},
        SPIDER_MIDDLEWARES={"newswatch.spiders.known.KnownLinksMiddleware": None},
        DOWNLOADER_MIDDLEWARES={
            "newswatch.spiders.safety.AddressGuardMiddleware": 40,
            "newswatch.spiders.known.KnownArticlesMiddleware": None,
            "newswatch.spiders.known.ConditionalRequestsMiddleware": None,
        },
    )
    level = logging.getLogger().level
    process = CrawlerProcess(settings)
    logging.getLogger().setLevel(level)
    spider, arguments = page_spider(config, url, result)
    process.crawl(spider, **arguments)
    process.start()
    if "body" not in result:
        raise FetchError(result.get("error") or "no response (refused by robots.txt, the "
                         "address guard or the size limit; run with -v for details)")
    result["source"] = getattr(spider, "source_name", None)
    return result
