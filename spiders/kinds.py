"""The engine spider: one spider crawls every source. Each kind of source (feeds,
sitemaps, listing pages, site discovery) is a mixin with its own requests and callbacks
over spiders.base. The spider takes polls from the runtime's feed while it runs
(`start()` waits for the next one), so a long-lived worker and a one-off crawl are the
same crawler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from newswatch.spiders.base import (
    MAX_SITEMAP_DEPTH,
    SpiderBase,
    content_type,
    tracked,
    tracked_errback,
)
from newswatch.spiders.board import PollBoard
from newswatch.spiders.failures import not_a_feed, unreadable_sitemap
from newswatch.spiders.links import (
    NotAFeed,
    feeds_from_html,
    parse_feed,
    parse_sitemap,
    sitemaps_from_robots,
)
from newswatch.spiders.poll import Poll
from newswatch.spiders.runtime import runtime
from newswatch.spiders.urls import is_robots_txt

log = logging.getLogger(__name__)


class FeedsKind(SpiderBase):
    """RSS and Atom feeds."""

    def feed_requests(self, poll: Poll, urls: Iterable[str]) -> Iterator[scrapy.Request]:
        for url in urls:
            yield self.listing_request(poll, url, self.parse_feed, "feed")

    @tracked
    def parse_feed(self, response: Response, poll: Poll) -> Iterator[Any]:
        if not self.listing_read(response, poll):
            return
        try:
            links = parse_feed(response.body, response.url, content_type(response))
        except NotAFeed as exc:
            self.listing_unreadable(response, poll, not_a_feed(response, str(exc)))
            return
        poll.note_dates(link.date for link in links)
        yield from self.article_requests(poll, links)


class SitemapsKind(SpiderBase):
    """Sitemaps, sitemap indexes, news sitemaps and robots.txt `Sitemap:` lines."""

    def sitemap_requests(self, poll: Poll, urls: Iterable[str], depth: int = 0
                         ) -> Iterator[scrapy.Request]:
        """Each sitemap at most once a poll (an index may list itself, or a child its
        parent), and indexes nested at most MAX_SITEMAP_DEPTH deep."""
        for url in urls:
            if url in poll.sitemaps:
                poll.count("sitemap_repeats")
                continue
            if depth > MAX_SITEMAP_DEPTH:
                poll.count("sitemap_too_deep")
                log.info("[%s] sitemap %s not read: indexes nested more than %d deep",
                         poll.name, url, MAX_SITEMAP_DEPTH)
                continue
            poll.sitemaps.add(url)
            yield self.listing_request(poll, url, self.parse_sitemap, "sitemap",
                                       sitemap_depth=depth)

    @tracked
    def parse_sitemap(self, response: Response, poll: Poll) -> Iterator[Any]:
        if not self.listing_read(response, poll):
            return
        if is_robots_txt(response.url):
            text = response.body.decode("utf-8", "replace")
            found = sitemaps_from_robots(text, response.url)
            if not found and not response.meta.get("optional"):
                self.listing_unreadable(response, poll, "robots.txt names no sitemap")
            yield from self.sitemap_requests(poll, found, response.meta.get(
                "sitemap_depth", 0))
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            from scrapy.utils.gz import gunzip

            try:
                body = gunzip(body, max_size=poll.options.max_page_size)
            except Exception as exc:  # a corrupt or oversized archive
                self.listing_unreadable(response, poll, f"unreadable sitemap (bad gzip: "
                                                        f"{exc})")
                return
        try:
            sitemap = parse_sitemap(body, response.url, content_type(response))
        except ValueError as exc:
            self.listing_unreadable(response, poll, unreadable_sitemap(response, str(exc)))
            return
        if sitemap.kind == "sitemapindex":
            fresh = [lk.url for lk in sitemap.links if not self.too_old(poll, lk.date)]
            poll.count("stale_sitemaps", len(sitemap.links) - len(fresh))
            yield from self.sitemap_requests(poll, fresh,
                                             response.meta.get("sitemap_depth", 0) + 1)
        else:
            yield from self.article_requests(poll, sitemap.links)


class PagesKind(SpiderBase):
    """Listing pages (section fronts) whose links are articles, filtered by follow:."""

    def page_requests(self, poll: Poll, urls: Iterable[str]) -> Iterator[scrapy.Request]:
        for url in urls:
            yield self.listing_request(poll, url, self.parse_listing, "page")

    @tracked
    def parse_listing(self, response: Response, poll: Poll) -> Iterator[Any]:
        if not self.listing_read(response, poll):
            return
        if not isinstance(response, TextResponse):
            self.listing_unreadable(response, poll, "not an HTML page")
            return
        yield from self.follow_links(response, poll, 1)


class SiteKind(FeedsKind, SitemapsKind, PagesKind):
    """`site:` discovery: the homepage's feed links and robots.txt's sitemaps; the
    homepage itself as a listing page when it advertises no feed."""

    def site_requests(self, poll: Poll, url: str) -> Iterator[scrapy.Request]:
        yield self.listing_request(poll, url, self.parse_home, "site")
        robots = url.split("/", 3)
        yield self.request(poll, "/".join(robots[:3]) + "/robots.txt", self.parse_sitemap,
                           self.optional_failed, priority=10, listing="robots",
                           optional=True, dont_obey_robotstxt=True)

    @tracked_errback
    def optional_failed(self, failure: Failure, poll: Poll) -> None:
        log.info("[%s] no robots.txt sitemaps: %s", poll.name, failure.getErrorMessage())

    @tracked
    def parse_home(self, response: Response, poll: Poll) -> Iterator[Any]:
        if not self.listing_read(response, poll):
            return
        feeds = feeds_from_html(response.body, response.url)
        if feeds:
            log.info("[%s] discovered feeds: %s", poll.name, ", ".join(feeds))
            yield from self.feed_requests(poll, feeds)
        else:
            yield from self.follow_links(response, poll, 1)


class EngineSpider(SiteKind):
    """Every source, one poll at a time as the feed hands them out."""

    name = "newswatch"
    # `scrapy crawl NAME`: the loader's subclass polls just its source
    sources: ClassVar[list[str] | None] = None

    def poll_requests(self, poll: Poll) -> Iterator[scrapy.Request]:
        src = poll.source
        yield from self.feed_requests(poll, src.feeds)
        yield from self.sitemap_requests(poll, src.sitemaps)
        yield from self.page_requests(poll, src.pages)
        if src.site:
            yield from self.site_requests(poll, src.site)

    async def start(self) -> AsyncIterator[Any]:
        board = PollBoard.of(self.crawler)
        feed = runtime(self.crawler).feed
        while True:
            order = await feed.take()
            if order is None:
                return
            # whatever goes wrong with one poll ends that poll, never the engine's intake
            try:
                poll = await board.open(order)
            except Exception as exc:
                log.exception("[%s] the poll could not start", order.source)
                board.not_started(order, f"the poll could not start: {exc!r}")
                continue
            if poll is None:
                continue
            try:
                requests = list(self.poll_requests(poll))
            except Exception as exc:
                log.exception("[%s] the poll's requests could not be made", poll.name)
                board.finish(poll, "failed", f"its requests could not be made: {exc!r}")
                continue
            try:
                for request in requests:
                    yield request
            finally:
                poll.release()  # the hold it was opened with
