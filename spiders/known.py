"""Middlewares that keep a re-crawl cheap: links to article pages already stored are
dropped (in batches as listings are parsed, and once more before a download), and feed
and sitemap requests are conditional (If-None-Match / If-Modified-Since). Their lookups
run on the store's reader threads (store.threads), never on the crawl's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from newswatch.spiders.poll import poll_of
from newswatch.spiders.runtime import runtime
from newswatch.spiders.urls import is_robots_txt, url_key
from newswatch.store.threads import StoreThreads

# meta key: the URL key under which a request's link was found not stored
CHECKED = "newswatch_checked_key"


class KnownArticle(IgnoreRequest):
    """The article is already stored: not downloaded again."""


def store_threads(crawler: Crawler) -> StoreThreads:
    """The crawler's store threads, started on first use and closed (their writes done)
    when its engine stops."""
    found = getattr(crawler, "newswatch_store_threads", None)
    if isinstance(found, StoreThreads):
        return found
    threads = StoreThreads(runtime(crawler).store)
    crawler.newswatch_store_threads = threads  # type: ignore[attr-defined]

    async def _engine_stopped() -> None:
        await asyncio.to_thread(threads.close)

    crawler.signals.connect(_engine_stopped, signal=signals.engine_stopped, weak=False)
    return threads


class KnownArticlesMiddleware:
    """A re-crawl never downloads an article page it has stored under any URL variant.
    Links were looked up in batches when their listing was parsed (KnownLinksMiddleware);
    here, just before the download, only a URL not looked up yet is (a redirect's
    target, a request made elsewhere)."""

    def __init__(self, threads: StoreThreads):
        self.threads = threads

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> KnownArticlesMiddleware:
        return cls(store_threads(crawler))

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if not request.meta.get("article"):
            return
        key = url_key(request.url)
        if request.meta.get(CHECKED) != key and \
                await self.threads.read(self.threads.store.is_known, key):
            raise KnownArticle(f"already stored: {request.url}")


class KnownLinksMiddleware:
    """Spider middleware: the article links a listing yields (a sitemap can hold tens of
    thousands) are looked up in the store a batch at a time, and those already stored are
    dropped before they are ever scheduled, instead of one query per request."""

    BATCH = 500

    def __init__(self, threads: StoreThreads):
        self.threads = threads

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> KnownLinksMiddleware:
        return cls(store_threads(crawler))

    async def _new(self, requests: list[Request]) -> list[Request]:
        if not requests:  # most responses (article pages) yield no links at all
            return []
        keys = [url_key(r.url) for r in requests]
        known = await self.threads.read(self.threads.store.known_keys, keys)
        fresh = []
        for request, key in zip(requests, keys, strict=True):
            if key in known:
                poll = poll_of(request)
                if poll is not None:
                    poll.count("known")
                    poll.release()  # this request is never scheduled
                continue
            request.meta[CHECKED] = key
            fresh.append(request)
        return fresh

    async def process_spider_output(self, response: Response, result: AsyncIterator[Any],
                                    spider: Spider | None = None) -> AsyncIterator[Any]:
        batch: list[Request] = []
        async for obj in result:
            if not (isinstance(obj, Request) and obj.meta.get("article")):
                yield obj
                continue
            batch.append(obj)
            if len(batch) >= self.BATCH:
                for out in await self._new(batch):
                    yield out
                batch = []
        for out in await self._new(batch):
            yield out


class ConditionalRequestsMiddleware:
    """Feeds and sitemaps are fetched with the validators of their last 200 response."""

    def __init__(self, threads: StoreThreads, dry_run: bool):
        self.threads = threads
        self.dry_run = dry_run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestsMiddleware:
        return cls(store_threads(crawler), runtime(crawler).dry_run)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        # robots.txt is asked in full every poll: a 304 there would hide the sitemaps it
        # names, which have validators of their own
        if not request.meta.get("listing") or is_robots_txt(request.url):
            return
        etag, modified = await self.threads.read(self.threads.store.validators, request.url)
        if etag:
            request.headers.setdefault(b"If-None-Match", etag.encode("latin-1"))
        if modified:
            request.headers.setdefault(b"If-Modified-Since", modified.encode("latin-1"))

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Any:
        if (request.meta.get("listing") and response.status == 200 and not self.dry_run
                and not is_robots_txt(request.url)):
            etag = response.headers.get(b"ETag")
            modified = response.headers.get(b"Last-Modified")
            poll = poll_of(request)
            if (etag or modified) and poll is not None:
                # kept with the poll, and stored only if it ends without an error: a 304
                # next time must never hide a link that failed this time
                poll.validators[request.url] = (
                    etag.decode("latin-1") if etag else None,
                    modified.decode("latin-1") if modified else None)
        return response
