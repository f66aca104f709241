"""Downloader middlewares backed by the store: skip article pages already stored, and
make feed/sitemap requests conditional (If-None-Match / If-Modified-Since)."""

from __future__ import annotations

from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response

from spiders.base import KnownArticle
from spiders.urls import url_key
from store.db import Store


def _store_for(crawler: Crawler) -> Store:
    config = crawler.spidercls.config  # type: ignore[attr-defined]
    return Store.shared(config.database)


class KnownArticlesMiddleware:
    """A re-crawl never downloads an article page it has stored under any URL variant."""

    def __init__(self, store: Store):
        self.store = store

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> KnownArticlesMiddleware:
        return cls(_store_for(crawler))

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if request.meta.get("article") and self.store.is_known(url_key(request.url)):
            raise KnownArticle(f"already stored: {request.url}")


class ConditionalRequestsMiddleware:
    """Feeds and sitemaps are fetched with the validators of their last 200 response."""

    def __init__(self, store: Store, dry_run: bool):
        self.store = store
        self.dry_run = dry_run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestsMiddleware:
        return cls(_store_for(crawler), crawler.settings.getbool("NEWSWATCH_DRY_RUN"))

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if not request.meta.get("listing"):
            return
        etag, modified = self.store.validators(request.url)
        if etag:
            request.headers.setdefault(b"If-None-Match", etag.encode("latin-1"))
        if modified:
            request.headers.setdefault(b"If-Modified-Since", modified.encode("latin-1"))

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Any:
        if request.meta.get("listing") and response.status == 200 and not self.dry_run:
            etag = response.headers.get(b"ETag")
            modified = response.headers.get(b"Last-Modified")
            if etag or modified:
                self.store.save_validators(
                    request.url,
                    etag.decode("latin-1") if etag else None,
                    modified.decode("latin-1") if modified else None,
                )
        return response
