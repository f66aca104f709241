"""Scrapy extension that records each source's run (counts, status) in the database,
for `newswatch status` and source health."""

from __future__ import annotations

import logging

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from store.db import Store

log = logging.getLogger(__name__)

COUNTERS = ("pages", "new_articles", "too_old", "no_text", "known", "matches", "alerts",
            "errors", "links")


def run_counts(stats: dict[str, object]) -> dict[str, int]:
    def get(key: str) -> int:
        value = stats.get(f"newswatch/{key}", 0)
        return int(value) if isinstance(value, int | float) else 0

    return {k: get(k) for k in COUNTERS} | {
        "listings": get("listings"), "listing_ok": get("listing_ok"),
        "listing_failed": get("listing_failed"), "not_html": get("not_html"),
    }


def run_status(counts: dict[str, int]) -> str:
    """failed: no feed, sitemap or listing page could be fetched and read."""
    if counts["listings"] and counts["listing_ok"] <= 0:
        return "failed"
    return "ok"


class RunRecorder:
    def __init__(self, crawler: Crawler):
        if crawler.settings.getbool("NEWSWATCH_DRY_RUN"):
            raise NotConfigured("dry run: no run records")
        self.crawler = crawler
        self.store = Store.shared(crawler.spidercls.config.database)  # type: ignore[attr-defined]
        self.run_id: int | None = None
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunRecorder:
        return cls(crawler)

    def opened(self, spider: Spider) -> None:
        self.run_id = self.store.start_run(spider.name)

    def closed(self, spider: Spider, reason: str) -> None:
        if self.run_id is None:
            return
        assert self.crawler.stats is not None
        counts = run_counts(self.crawler.stats.get_stats())
        # stopped on purpose (SIGTERM, the daemon shutting down) is not a failure
        status = (run_status(counts) if reason == "finished"
                  else "cancelled" if reason == "shutdown" else "failed")
        self.store.finish_run(self.run_id, status, counts,
                              None if reason == "finished" else reason)
        log.info("[%s] run %s: %s", spider.name, status,
                 ", ".join(f"{k}={v}" for k, v in counts.items()))
