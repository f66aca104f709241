"""Per-host politeness across every source of one engine. Scrapy keeps one download
slot per host; these components give each host the concurrency and delay of the source
that uses it (the stricter one when sources share a host), keep AutoThrottle above that
delay, give each request the source's timeout cut to what is left of its poll, and keep
robots.txt answers for a while instead of for the life of the process."""

from __future__ import annotations

import time

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from newswatch.spiders.failures import RobotsDisallowed
from newswatch.spiders.poll import poll_of


class PoliteSlotsMiddleware:
    """Downloader middleware, before robots.txt and the download: the request's poll
    must still run, its host's slot gets the source's limits, and its timeout is the
    source's, cut to what remains of the poll's time limit."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.timeouts: dict[str, float] = {}  # per host:port, its last poll's request's

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PoliteSlotsMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        poll = poll_of(request)
        if poll is None:
            # the engine's own (robots.txt, asked for by a poll's first request to its
            # host): that poll's timeout, not Scrapy's 30 s for a host that hangs
            timeout = self.timeouts.get(urlparse_cached(request).netloc)
            if timeout is not None and "download_timeout" not in request.meta:
                request.meta["download_timeout"] = timeout
            return
        if not poll.open:
            raise IgnoreRequest(f"the poll of {poll.name} has ended")
        opts = poll.options
        # at most a moment past the poll's end: its own clock, which says "time limit",
        # goes first, and a download does not outlive its poll
        request.meta["download_timeout"] = max(
            0.5, min(opts.timeout.total_seconds(), poll.remaining() + 1.0))
        if len(self.timeouts) >= 4096:  # hosts from redirects are not bounded
            self.timeouts.clear()
        self.timeouts[urlparse_cached(request).netloc] = request.meta["download_timeout"]
        # set here, not on the request: a redirect carries what is left of it
        request.meta.setdefault("redirect_ttl", opts.max_redirects)
        host = urlparse_cached(request).hostname or ""
        conc, delay = opts.concurrency_per_domain, opts.download_delay.total_seconds()
        assert self.crawler.engine is not None
        downloader = self.crawler.engine.downloader
        have = downloader.per_slot_settings.get(host)
        if have is not None and have["concurrency"] <= conc and have["delay"] >= delay:
            return
        if have is not None:  # two sources on one host: the stricter limits hold
            conc, delay = min(conc, have["concurrency"]), max(delay, have["delay"])
        downloader.per_slot_settings[host] = {"concurrency": conc, "delay": delay}
        slot = downloader.slots.get(host)
        if slot is not None:
            slot.concurrency = conc
            slot.delay = max(slot.delay, delay)


class PoliteThrottle(AutoThrottle):
    """AutoThrottle whose floor is each host's own delay rather than one for all."""

    def _response_downloaded(self, response: Response, request: Request,
                             spider: Spider | None = None) -> None:
        super()._response_downloaded(response, request, spider)  # type: ignore[arg-type]
        key, slot = self._get_slot(request, spider)  # type: ignore[arg-type]
        if slot is None or key is None:
            return
        assert self.crawler.engine is not None
        floor = self.crawler.engine.downloader.per_slot_settings.get(key, {}).get("delay", 0)
        slot.delay = max(slot.delay, floor)


class ExpiringRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware keeps each host's answer for the life of the
    crawler, which for a long-lived worker is forever: here it is fetched again after
    ROBOTSTXT_CACHE_SECONDS (RFC 9309 asks for at most a day). Expired answers are
    also swept out once per that time, so the cache holds the hosts of the last
    ROBOTSTXT_CACHE_SECONDS, not every host ever polled (a source polled every 6 hours
    fetches its robots.txt again anyway)."""

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self._ttl = crawler.settings.getfloat("ROBOTSTXT_CACHE_SECONDS", 3600.0)
        self._fetched: dict[str, float] = {}
        self._swept = time.monotonic()

    def _expired(self, netloc: str, now: float) -> bool:
        fetched = self._fetched.get(netloc)
        return (fetched is not None and now - fetched > self._ttl
                and not isinstance(self._parsers.get(netloc), Deferred))

    def _sweep(self, now: float) -> None:
        self._swept = now
        for netloc in [n for n in self._fetched if self._expired(n, now)]:
            self._parsers.pop(netloc, None)
            del self._fetched[netloc]

    async def robot_parser(self, request: Request) -> RobotParser | None:
        netloc = urlparse_cached(request).netloc
        now = time.monotonic()
        if now - self._swept > self._ttl:
            self._sweep(now)
        if self._expired(netloc, now):
            self._parsers.pop(netloc, None)
        if netloc not in self._parsers:
            self._fetched[netloc] = now
        return await super().robot_parser(request)

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        # the same verdict, as its own type: a failure's cause is told by its type
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest as exc:
            raise RobotsDisallowed(str(exc)) from exc
