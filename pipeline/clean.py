"""Clean: article page bytes -> text and metadata, with trafilatura in worker processes
under a per-page time limit. A page with no article text is counted, not an error."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pebble import ProcessExpired
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from newswatch.pipeline.extract import extract_page
from newswatch.pipeline.pool import ExtractionPool
from newswatch.spiders.items import ArticlePage

log = logging.getLogger(__name__)


class CleanPipeline:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CleanPipeline:
        return cls(crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        given = self.crawler.settings.get(ExtractionPool.SETTING)
        # the starter's pool; `scrapy crawl NAME` has none, so this pipeline owns one
        self.own = None if isinstance(given, ExtractionPool) else ExtractionPool()
        self.pool: ExtractionPool = self.own or given
        if self.pool.lazy:
            self.crawler.signals.connect(self._request_sent,
                                         signal=signals.request_reached_downloader)

    def _request_sent(self, request: Request, **kwargs: Any) -> None:
        """The first article request on its way: the workers start while it downloads."""
        if request.meta.get("article"):
            self.crawler.signals.disconnect(self._request_sent,
                                            signal=signals.request_reached_downloader)
            self.pool.start()

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.own is not None:
            self.own.close()

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        poll = item.poll
        timeout = poll.options.extract_timeout.total_seconds()
        future = self.pool.schedule(
            extract_page, (item.url, item.body, item.header_charset), timeout=timeout)
        began = time.monotonic()
        try:
            result = await asyncio.wrap_future(future)
        except FutureTimeout:
            poll.count("errors")
            poll.count("extract_timeouts")
            raise DropItem(f"extraction of {item.url} exceeded {timeout:g}s",
                           log_level="WARNING") from None
        except ProcessExpired as exc:
            poll.count("errors")
            raise DropItem(f"extraction worker died on {item.url}: {exc}",
                           log_level="WARNING") from None
        except Exception as exc:
            poll.count("errors")
            raise DropItem(f"extraction of {item.url} failed: {exc!r}",
                           log_level="WARNING") from None
        # the pool's wall time for this page, queueing included: what a page costs here
        poll.count("extract_ms", int((time.monotonic() - began) * 1000))
        item.body = b""  # the bytes are not needed downstream; free them early
        if not result.get("text"):
            poll.count("no_text")
            log.info("[%s] no article text in %s", item.source, item.url)
        item.extracted = result
        return item
