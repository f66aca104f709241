"""Dedupe: give each article its canonical URL (the page's `<link rel=canonical>` when
it stays on the source's domains) and drop pages already stored under that URL,
remembering the variant so that the next crawl does not download it at all. The
lookup and the write run on the store's threads (store.threads)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urljoin

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from newswatch.spiders.items import ArticlePage
from newswatch.spiders.known import store_threads
from newswatch.spiders.runtime import runtime
from newswatch.spiders.urls import clean_url, registered_domain, url_key
from newswatch.store.db import ArticleRecord
from newswatch.store.errors import why

log = logging.getLogger(__name__)


def canonical_for(item: ArticlePage, domains: list[str]) -> str:
    canonical = (item.extracted or {}).get("canonical")
    if canonical:
        absolute = urljoin(item.url, canonical)
        host = registered_domain(absolute)
        # the page's own site (a feed may link to another host than the source's) or
        # the source's: a canonical elsewhere would let any page claim any article
        allowed = [*domains, registered_domain(item.url)]
        if absolute.startswith(("http://", "https://")) and any(
            host == d or host.endswith("." + d) for d in allowed
        ):
            return clean_url(absolute)
    return clean_url(item.url)


class DedupePipeline:
    def __init__(self, crawler: Crawler):
        rt = runtime(crawler)
        self.threads = store_threads(crawler)
        self.dry_run = rt.dry_run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupePipeline:
        return cls(crawler)

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        poll = item.poll
        url = canonical_for(item, poll.domains)
        key = url_key(url)
        item.url = url
        item.aliases = {url_key(item.request_url), url_key(item.url)} - {key}
        # the page's own URL was looked up before its download (when its listing was
        # parsed, or in the downloader); only a canonical URL that differs needs asking
        checked = key == url_key(item.request_url)
        store = self.threads.store
        if key in poll.seen_pages or (
                not checked and await self.threads.read(store.is_known, key)):
            poll.count("known")
            if not self.dry_run and key not in poll.seen_pages:
                # its variants, for the next crawl; after the writes handed over before
                rec = ArticleRecord(url=url, url_key=key, source=item.source,
                                    aliases=tuple(item.aliases))
                try:
                    await self.threads.write(store.add_article, rec)
                except Exception as exc:  # the page is stored already; only a variant lost
                    log.warning("[%s] the URL variants of %s could not be stored: %s",
                                item.source, url, why(exc))
            raise DropItem(f"already stored as {url}", log_level="DEBUG")
        poll.seen_pages.add(key)
        return item
