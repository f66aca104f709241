"""The spider of one configured source. Each kind of source (feeds, sitemaps, listing
pages, site discovery) is a mixin with its own requests and callbacks; SourceSpider
combines them and owns the shared parts: link bookkeeping, max_age, article pages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from config.models import CrawlOptions, Source
from spiders.items import ArticlePage, StaleLink
from spiders.links import (
    Link,
    NotAFeed,
    feeds_from_html,
    parse_feed,
    parse_sitemap,
    sitemaps_from_robots,
)
from spiders.safety import AddressPolicy, ForbiddenAddress
from spiders.urls import registered_domain, url_key

log = logging.getLogger(__name__)

HTML_TYPES = (b"text/html", b"application/xhtml+xml")


class KnownArticle(IgnoreRequest):
    """The article is already stored: not downloaded again."""


def header_charset(response: Response) -> str | None:
    ctype = response.headers.get(b"Content-Type") or b""
    for part in ctype.decode("latin-1").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


class SpiderBase(scrapy.Spider):
    source: ClassVar[Source]
    options: ClassVar[CrawlOptions]
    allow_private: ClassVar[bool | list[Any]] = False
    allowed_domains: ClassVar[list[str]] = []

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._seen_keys: set[str] = set()

    # -- counters -------------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"newswatch/{key}", n)

    # -- listing endpoints (feeds, sitemaps, pages, homepages) ----------------------
    def listing_request(self, url: str, callback: Any, kind: str, **meta: Any) -> scrapy.Request:
        self.count("listings")
        return scrapy.Request(
            url, callback=callback, errback=self.listing_failed, dont_filter=True,
            meta={"listing": kind, "handle_httpstatus_list": [304], **meta},
            priority=10,
        )

    def listing_read(self, response: Response) -> bool:
        """Count a listing endpoint as read; False if it was not modified (304)."""
        self.count("listing_ok")
        if response.status == 304:
            self.count("not_modified")
            return False
        return True

    def listing_failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        self.count("listing_failed")
        self.count("errors")
        log.warning("[%s] could not read %s: %s", self.name, url, failure.getErrorMessage())

    def listing_unreadable(self, response: Response, why: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.dec_value("newswatch/listing_ok")
        self.count("listing_failed")
        self.count("errors")
        log.warning("[%s] %s is unreadable: %s", self.name, response.url, why)

    # -- article links ----------------------------------------------------------------
    def too_old(self, date: datetime | None) -> bool:
        window = self.options.max_age
        return window is not None and date is not None and date < datetime.now(UTC) - window

    def article_requests(self, links: Iterable[Link], depth: int = 1
                         ) -> Iterator[scrapy.Request | StaleLink]:
        domains = self.allowed_domains
        for link in links:
            if not link.url.startswith(("http://", "https://")):
                continue
            host = registered_domain(link.url)
            if not any(host == d or host.endswith("." + d) for d in domains):
                self.count("offsite")
                continue
            key = url_key(link.url)
            if key in self._seen_keys:
                continue
            self._seen_keys.add(key)
            self.count("links")
            if self.too_old(link.date):
                assert link.date is not None
                yield StaleLink(self.name, link.url, link.date, link.title)
                continue
            yield scrapy.Request(
                link.url, callback=self.parse_article, errback=self.article_failed,
                dont_filter=True,  # duplicates are caught by url_key above; a redirect loop
                # must run into REDIRECT_MAX_TIMES (an error) instead of vanishing
                meta={"article": True, "link_title": link.title, "link_date": link.date,
                      "depth_level": depth},
            )

    def parse_article(self, response: Response) -> Iterator[Any]:
        self.count("pages")
        ctype = (response.headers.get(b"Content-Type") or b"").lower()
        if ctype and not ctype.startswith(HTML_TYPES):
            self.count("not_html")
            log.info("[%s] skipped %s: not HTML (%s)", self.name, response.url,
                     ctype.decode("latin-1"))
            return
        meta = response.meta
        yield ArticlePage(
            source=self.name, url=response.url, request_url=response.request.url
            if response.request else response.url,
            body=response.body, header_charset=header_charset(response),
            feed_title=meta.get("link_title"), feed_date=meta.get("link_date"),
        )
        depth = meta.get("depth_level", 1)
        if meta.get("follow_links") and depth < self.source.follow.depth:
            yield from self.follow_links(response, depth + 1)

    def article_failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if failure.check(KnownArticle):
            self.count("known")
            return
        message = failure.getErrorMessage()
        if failure.check(ForbiddenAddress):
            self.count("refused")
        elif (failure.check(IgnoreRequest) and not failure.check(HttpError)
              and ("robots.txt" in message or "offsite" in message.lower())):
            # the site's wishes and our domain limits, not faults
            self.count("robots" if "robots" in message else "offsite")
            log.info("[%s] not fetched %s: %s", self.name, url, message)
            return
        self.count("errors")
        log.warning("[%s] article %s failed: %s", self.name, url, message)

    # -- listing pages and follow -----------------------------------------------------
    def follow_links(self, response: Response, depth: int) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            return
        follow = self.source.follow
        # domains are checked in article_requests: LinkExtractor's allow_domains
        # compares host:port, which never matches a source on a non-default port
        extractor = LinkExtractor(allow=follow.allow, deny=follow.deny, unique=True)
        links = [Link(lk.url, lk.text.strip() or None) for lk in extractor.extract_links(response)]
        for req in self.article_requests(links, depth):
            if isinstance(req, scrapy.Request):
                req.meta["follow_links"] = True
            yield req


class FeedsKind(SpiderBase):
    """RSS and Atom feeds."""

    def feed_requests(self, urls: Iterable[str]) -> Iterator[scrapy.Request]:
        for url in urls:
            yield self.listing_request(url, self.parse_feed, "feed")

    def parse_feed(self, response: Response) -> Iterator[Any]:
        if not self.listing_read(response):
            return
        try:
            links = parse_feed(response.body, response.url)
        except NotAFeed as exc:
            self.listing_unreadable(response, f"not a feed ({exc})")
            return
        yield from self.article_requests(links)


class SitemapsKind(SpiderBase):
    """Sitemaps, sitemap indexes, news sitemaps and robots.txt `Sitemap:` lines."""

    def sitemap_requests(self, urls: Iterable[str]) -> Iterator[scrapy.Request]:
        for url in urls:
            yield self.listing_request(url, self.parse_sitemap, "sitemap")

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        if not self.listing_read(response):
            return
        if response.url.rstrip("/").endswith("/robots.txt"):
            text = response.body.decode("utf-8", "replace")
            found = sitemaps_from_robots(text, response.url)
            if not found and not response.meta.get("optional"):
                self.listing_unreadable(response, "robots.txt names no sitemap")
            yield from self.sitemap_requests(found)
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            from scrapy.utils.gz import gunzip

            try:
                body = gunzip(body, max_size=self.options.max_page_size)
            except Exception as exc:  # a corrupt or oversized archive
                self.listing_unreadable(response, f"bad gzip ({exc})")
                return
        try:
            sitemap = parse_sitemap(body, response.url)
        except ValueError as exc:
            self.listing_unreadable(response, str(exc))
            return
        if sitemap.kind == "sitemapindex":
            fresh = [lk.url for lk in sitemap.links if not self.too_old(lk.date)]
            self.count("stale_sitemaps", len(sitemap.links) - len(fresh))
            yield from self.sitemap_requests(fresh)
        else:
            yield from self.article_requests(sitemap.links)


class PagesKind(SpiderBase):
    """Listing pages (section fronts) whose links are articles, filtered by follow:."""

    def page_requests(self, urls: Iterable[str]) -> Iterator[scrapy.Request]:
        for url in urls:
            yield self.listing_request(url, self.parse_listing, "page")

    def parse_listing(self, response: Response) -> Iterator[Any]:
        if not self.listing_read(response):
            return
        if not isinstance(response, TextResponse):
            self.listing_unreadable(response, "not an HTML page")
            return
        yield from self.follow_links(response, 1)


class SiteKind(FeedsKind, SitemapsKind, PagesKind):
    """`site:` discovery: the homepage's feed links and robots.txt's sitemaps; the
    homepage itself as a listing page when it advertises no feed."""

    def site_requests(self, url: str) -> Iterator[scrapy.Request]:
        yield self.listing_request(url, self.parse_home, "site")
        robots = url.split("/", 3)
        yield scrapy.Request(
            "/".join(robots[:3]) + "/robots.txt", callback=self.parse_sitemap,
            errback=self.optional_failed, dont_filter=True,
            meta={"listing": "robots", "optional": True, "dont_obey_robotstxt": True},
        )

    def optional_failed(self, failure: Failure) -> None:
        log.info("[%s] no robots.txt sitemaps: %s", self.name, failure.getErrorMessage())

    def parse_home(self, response: Response) -> Iterator[Any]:
        if not self.listing_read(response):
            return
        feeds = feeds_from_html(response.body, response.url)
        if feeds:
            log.info("[%s] discovered feeds: %s", self.name, ", ".join(feeds))
            yield from self.feed_requests(feeds)
        else:
            yield from self.follow_links(response, 1)


class SourceSpider(SiteKind):
    """One configured source; the loader makes a subclass per source."""

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider: SourceSpider = super().from_crawler(crawler, *args, **kwargs)
        hosts = {u.split("/")[2].split("@")[-1].rsplit(":", 1)[0].strip("[]")
                 for u in cls.source.start_urls()}
        AddressPolicy.register(hosts, cls.allow_private)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        src = self.source
        for req in self.feed_requests(src.feeds):
            yield req
        for req in self.sitemap_requests(src.sitemaps):
            yield req
        for req in self.page_requests(src.pages):
            yield req
        if src.site:
            for req in self.site_requests(src.site):
                yield req
