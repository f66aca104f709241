"""What sites ask of their pollers: a listing's Cache-Control max-age (or Expires) and
Retry-After (seconds or an HTTP date) say when it may be fetched again; 429 and 5xx say
to back off. A downloader middleware reads them from each listing response of a poll and
keeps the latest ask with the poll; the adaptive schedule (newswatch.config.pacing) never
polls the source sooner. A listing answered 429 or 503 is not retried within the poll
(a retry would be a poll sooner than asked)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response

from newswatch.config.pacing import THROTTLED, Asked
from newswatch.spiders.poll import poll_of
from newswatch.spiders.urls import is_robots_txt
from newswatch.store.db import utcnow

log = logging.getLogger(__name__)

# an ask past this is taken as this: a misconfigured cache header must not silence a
# source for a year
LONGEST = timedelta(days=7)
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1").strip() if value else None


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def _age(response: Response) -> int:
    """Seconds the response already spent in a cache on the way (Age)."""
    text = _header(response, b"Age")
    return int(text) if text and text.isdigit() else 0


def site_ask(response: Response, now: datetime, what: str = "the feed") -> Asked | None:
    """When the response says the next fetch may be, or None if it says nothing usable."""
    if (retry := _header(response, b"Retry-After")) is not None:
        if retry.isdigit():
            return _asked(now, now + timedelta(seconds=int(retry)),
                          f"{what} asked Retry-After: {int(retry)}")
        if (when := _http_date(retry)) is not None:
            return _asked(now, when, f"{what} asked Retry-After: {retry}")
    if response.status in THROTTLED:
        return None  # an error page's caching headers say nothing about the feed
    control = _header(response, b"Cache-Control") or ""
    if (found := _MAX_AGE.search(control)) is not None:
        # max-age wins over Expires; less the time it already spent in caches
        fresh = int(found.group(1)) - _age(response)
        return _asked(now, now + timedelta(seconds=fresh),
                      f"{what} asked max-age={found.group(1)}")
    if (expires := _header(response, b"Expires")) is not None:
        when = _http_date(expires)
        if when is not None:  # an unreadable Expires ("0", "-1") means already stale
            # measured against the server's own clock when it sends one
            said = _http_date(_header(response, b"Date") or "")
            if said is not None:
                when = now + (when - said)
            return _asked(now, when, f"{what} asked Expires: {expires}")
    return None


def _asked(now: datetime, when: datetime, why: str) -> Asked | None:
    if when <= now:
        return None
    return Asked(min(when, now + LONGEST), why)


class SiteAsksMiddleware:
    """Keeps with each poll the latest time its listings asked not to be fetched before,
    and the worst 429/5xx status they were answered with. Placed after Scrapy's retry
    middleware (it sees responses first) so that a 429 or 503 is not retried at once."""

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Any:
        kind = request.meta.get("listing")
        poll = poll_of(request)
        if not kind or poll is None or is_robots_txt(request.url):
            return response
        if response.status in (429, 503):
            request.meta["dont_retry"] = True
        if response.status in THROTTLED and (poll.throttled is None
                                             or response.status == 429):
            poll.throttled = response.status
        ask = site_ask(response, utcnow(), f"the {kind}")
        if ask is not None and (poll.asked is None
                                or ask.not_before > poll.asked.not_before):
            poll.asked = ask
            log.debug("[%s] %s", poll.name, ask.why)
        return response
