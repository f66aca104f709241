"""The shared part of the engine spider (spiders/kinds.py): requests of a poll with its
source's limits, listing bookkeeping, article links and pages, link following, and the
wrappers that let each callback release its share of its poll's pending work.
Everything per source (options, domains, counters, seen links) comes with the poll each
request carries in its meta."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure
from w3lib.url import safe_url_string

from newswatch.config.times import Published, last_instant
from newswatch.spiders.failures import RobotsDisallowed, fetch_cause
from newswatch.spiders.items import ArticlePage, StaleLink
from newswatch.spiders.known import KnownArticle
from newswatch.spiders.links import (
    Link,
)
from newswatch.spiders.poll import POLL, Poll, poll_of
from newswatch.spiders.runtime import runtime
from newswatch.spiders.safety import ForbiddenAddress
from newswatch.spiders.tls import tls_policy
from newswatch.spiders.urls import registered_domain, url_key

log = logging.getLogger(__name__)

HTML_TYPES = (b"text/html", b"application/xhtml+xml")
# Scrapy's URLLENGTH_LIMIT: a longer request would be dropped unseen by its middleware
MAX_URL = 2083
MAX_SITEMAP_DEPTH = 4  # robots.txt -> index -> index -> ... -> urlset

S = TypeVar("S", bound="SpiderBase")


def content_type(response: Response) -> str | None:
    ctype = response.headers.get(b"Content-Type")
    return ctype.decode("latin-1") if ctype else None


def header_charset(response: Response) -> str | None:
    for part in (content_type(response) or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


def tracked(fn: Callable[[S, Response, Poll], Iterator[Any]]
            ) -> Callable[[S, Response], Iterator[Any]]:
    """A callback of one poll's request: skipped once the poll has ended (its time ran
    out), and its share of the poll's pending work released when its output is done."""
    @functools.wraps(fn)
    def callback(self: S, response: Response) -> Iterator[Any]:
        poll = poll_of(response)
        if poll is None:
            return
        try:
            if poll.open:
                yield from fn(self, response, poll)
        finally:
            poll.release()
    return callback


def tracked_errback(fn: Callable[[S, Failure, Poll], None]) -> Callable[[S, Failure], None]:
    @functools.wraps(fn)
    def errback(self: S, failure: Failure) -> None:
        poll = poll_of(getattr(failure, "request", None))
        if poll is None:
            return
        try:
            if poll.open:
                fn(self, failure, poll)
        finally:
            poll.release()
    return errback


class SpiderBase(scrapy.Spider):
    def request(self, poll: Poll, url: str, callback: Any, errback: Any, priority: int = 0,
                **meta: Any) -> scrapy.Request:
        """A request of this poll, with the source's own limits and user agent."""
        opts = poll.options
        request = scrapy.Request(
            url, callback=callback, errback=errback, priority=priority,
            dont_filter=True,  # duplicates are caught by url_key; a redirect loop must
            # run into the redirect limit (an error) instead of vanishing
            headers={"User-Agent": opts.user_agent},
            meta={POLL: poll, "download_maxsize": opts.max_page_size,
                  **({} if opts.obey_robots else {"dont_obey_robotstxt": True}), **meta},
        )
        poll.hold()
        return request

    # -- listing endpoints (feeds, sitemaps, pages, homepages) ----------------------
    def listing_request(self, poll: Poll, url: str, callback: Any, kind: str,
                        **meta: Any) -> scrapy.Request:
        poll.count("listings")
        return self.request(poll, url, callback, self.listing_failed, priority=10,
                            listing=kind, handle_httpstatus_list=[304], **meta)

    def listing_read(self, response: Response, poll: Poll) -> bool:
        """Count a listing endpoint as read; False if it was not modified (304)."""
        poll.count("listing_ok")
        if response.status == 304:
            poll.count("not_modified")
            return False
        return True

    @tracked_errback
    def listing_failed(self, failure: Failure, poll: Poll) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        why = self.cause(failure, poll)
        self._listing_lost(poll, request.meta.get("listing", "") if request else "", url, why)
        log.warning("[%s] could not read %s: %s", poll.name, url, why)
        log.debug("[%s] %s failed with %r", poll.name, url, failure.value)

    def listing_unreadable(self, response: Response, poll: Poll, why: str) -> None:
        poll.count("listing_ok", -1)
        self._listing_lost(poll, response.meta.get("listing", ""), response.url, why)
        log.warning("[%s] %s is unreadable: %s", poll.name, response.url, why)

    def cause(self, failure: Failure, poll: Poll) -> str:
        """Why a request of this poll failed, in its source's terms."""
        opts = poll.options
        return fetch_cause(failure, getattr(failure, "request", None), opts.timeout,
                           opts.max_page_size, runtime(self.crawler).config.daemon.time_limit,
                           tls_policy(self.crawler.settings))

    def _listing_lost(self, poll: Poll, kind: str, url: str, why: str) -> None:
        poll.count("listing_failed")
        poll.count("errors")
        poll.failures.append((kind, url, why))

    # -- article links ----------------------------------------------------------------
    def too_old(self, poll: Poll, date: Published | None) -> bool:
        window = poll.options.max_age
        return window is not None and date is not None and \
            last_instant(date) < datetime.now(UTC) - window

    def article_requests(self, poll: Poll, links: Iterable[Link], depth: int = 1,
                         follow: bool = False) -> Iterator[scrapy.Request | StaleLink]:
        """Requests for a listing's article links. A feed's or sitemap's links are the
        source's own list, whatever their host (feeds live on feeds.example.com or a feed
        service); links found by following a page (`follow`) stay on the source's
        registered domains and follow.domains."""
        domains = [*poll.domains, *poll.source.follow.domains]
        for link in links:
            try:
                if not link.url.startswith(("http://", "https://")):
                    raise ValueError("not an http(s) URL")
                if len(link.url) > MAX_URL:
                    raise ValueError(f"longer than {MAX_URL} characters")
                # as Scrapy will read it (w3lib is stricter than urlsplit about ports
                # after an escaped userinfo, e.g. "host:99999\\@")
                safe_url_string(link.url)
                host = registered_domain(link.url)
                key = url_key(link.url)
            except ValueError as exc:  # a bad port, a bad IPv6 literal, an absurd length
                poll.count("bad_links")
                log.info("[%s] skipped a malformed link %.200r: %s", poll.name, link.url, exc)
                continue
            if follow and not any(host == d or host.endswith("." + d) for d in domains):
                poll.count("offsite")
                continue
            tls_policy(self.crawler.settings).register([link.url], poll.options.verify_tls)
            if key in poll.seen:
                continue
            poll.seen.add(key)
            poll.count("links")
            if self.too_old(poll, link.date):
                assert link.date is not None
                poll.hold()  # released when the item leaves the pipeline
                yield StaleLink(poll.name, link.url, link.date, link.title, poll=poll)
                continue
            yield self.request(poll, link.url, self.parse_article, self.article_failed,
                               article=True, link_title=link.title, link_date=link.date,
                               depth_level=depth)

    @tracked
    def parse_article(self, response: Response, poll: Poll) -> Iterator[Any]:
        poll.count("pages")
        ctype = (response.headers.get(b"Content-Type") or b"").lower()
        if ctype and not ctype.startswith(HTML_TYPES):
            poll.count("not_html")
            log.info("[%s] skipped %s: not HTML (%s)", poll.name, response.url,
                     ctype.decode("latin-1"))
            return
        meta = response.meta
        poll.hold()  # released when the item leaves the pipeline
        yield ArticlePage(
            source=poll.name, url=response.url, request_url=response.request.url
            if response.request else response.url,
            body=response.body, header_charset=header_charset(response),
            feed_title=meta.get("link_title"), feed_date=meta.get("link_date"), poll=poll,
        )
        depth = meta.get("depth_level", 1)
        if meta.get("follow_links") and depth < poll.source.follow.depth:
            yield from self.follow_links(response, poll, depth + 1)

    @tracked_errback
    def article_failed(self, failure: Failure, poll: Poll) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if failure.check(KnownArticle):
            poll.count("known")
            return
        message = failure.getErrorMessage()
        if failure.check(ForbiddenAddress):
            poll.count("refused")
        elif failure.check(RobotsDisallowed) or (
                failure.check(IgnoreRequest) and not failure.check(HttpError)
                and "offsite" in message.lower()):
            # the site's wishes and our domain limits, not faults
            poll.count("robots" if failure.check(RobotsDisallowed) else "offsite")
            log.info("[%s] not fetched %s: %s", poll.name, url, message)
            return
        poll.count("errors")
        log.warning("[%s] article %s failed: %s", poll.name, url,
                    self.cause(failure, poll))

    # -- listing pages and follow -----------------------------------------------------
    def follow_links(self, response: Response, poll: Poll, depth: int) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            return
        follow = poll.source.follow
        # domains are checked in article_requests: LinkExtractor's allow_domains
        # compares host:port, which never matches a source on a non-default port
        extractor = LinkExtractor(allow=follow.allow, deny=follow.deny, unique=True)
        links = [Link(lk.url, lk.text.strip() or None) for lk in extractor.extract_links(response)]
        for req in self.article_requests(poll, links, depth, follow=True):
            if isinstance(req, scrapy.Request):
                req.meta["follow_links"] = True
            yield req
