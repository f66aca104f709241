"""Store: write the articles (with their URL variants, matches and alerts), marking the
ones published before the source's max_age window as too old to ever alert. Articles
are written a batch at a time, a short transaction every quarter second or hundred
articles, and when the spider closes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.utils.asyncio import CallLaterResult, call_later

from newswatch.config.digest import next_due
from newswatch.config.models import Config, Watch
from newswatch.config.times import Published, choose, last_instant
from newswatch.pipeline.dates import page_published
from newswatch.spiders.board import poll_closing
from newswatch.spiders.items import ArticlePage, StaleLink
from newswatch.spiders.poll import Poll
from newswatch.spiders.runtime import runtime
from newswatch.spiders.urls import clean_url, url_key
from newswatch.store.db import ArticleRecord
from newswatch.store.matches import Route

log = logging.getLogger(__name__)


def published_of(item: ArticlePage) -> Published | None:
    """The most precise publication known: the page's full timestamp, else the feed's
    or sitemap's time, else the page's date (config.times.choose)."""
    extracted = item.extracted or {}
    page = extracted["published"] if "published" in extracted else \
        page_published(None, extracted.get("date"))
    return choose(page, item.feed_date)


def record_for(item: ArticlePage, now: datetime, window: timedelta | None) -> ArticleRecord:
    ex = item.extracted or {}
    published = published_of(item)
    # too old only if every date known of it is: a page's date can be a year its text
    # mentions (htmldate read "1997" in "the 1997 treaty" as the date), and a missed
    # alert is worse than an old story resurfacing; no date at all: the first-seen
    # time (now) counts, which is inside any window
    dates = [last_instant(d) for d in (published, item.feed_date) if d is not None]
    too_old = window is not None and bool(dates) and max(dates) < now - window
    text = ex.get("text")
    return ArticleRecord(
        url=item.url, url_key=url_key(item.url), source=item.source,
        title=ex.get("title") or item.feed_title, text=text, author=ex.get("author"),
        published=published, language=ex.get("language"), sitename=ex.get("sitename"),
        fingerprint=ex.get("fingerprint"), too_old=too_old, has_text=bool(text),
        aliases=tuple(sorted(item.aliases)), matches=tuple(item.matches),
    )


Pending = tuple[ArticleRecord, dict[str, Route] | None, Poll]


class StorePipeline:
    # one transaction per article cost more reactor time than anything else we own; an
    # article waits at most this long in memory (a crash before then loses no alert: the
    # article is not stored, so the next crawl fetches and matches it again)
    BATCH_DELAY = 0.25
    BATCH_SIZE = 100

    def __init__(self, crawler: Crawler):
        self.rt = runtime(crawler)
        self.store = self.rt.store
        self.dry_run = self.rt.dry_run
        self._watches: tuple[Config, dict[str, Watch], ZoneInfo] | None = None
        self.pending: list[Pending] = []
        self.dry_seen: set[str] = set()
        self.timer: CallLaterResult | None = None
        # a poll's run is recorded only once its articles are written
        crawler.signals.connect(self._poll_closing, signal=poll_closing)

    def _poll_closing(self, poll: Poll) -> None:
        self.flush()

    def routes(self, now: datetime, names: Iterable[str]) -> dict[str, Route]:
        """Recipients, digest and first send time of these watches, as of now (only the
        ones an article matched: a config may hold thousands)."""
        config = self.rt.config
        if self._watches is None or self._watches[0] is not config:
            self._watches = (config, {w.name: w for w in config.watches},
                             ZoneInfo(config.timezone))
        _, watches, tz = self._watches
        return {name: Route(tuple(config.recipients(w)), w.digest,
                            next_due(w.digest, tz, now), config.alerts.msgid_domain)
                for name in names if (w := watches.get(name)) is not None}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def close_spider(self, spider: Spider | None = None) -> None:
        self.flush()

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        now = datetime.now(UTC)
        if isinstance(item, StaleLink):
            rec = ArticleRecord(url=clean_url(item.url), url_key=url_key(item.url),
                                source=item.source, title=item.title, published=item.published,
                                too_old=True, has_text=False)
        elif isinstance(item, ArticlePage):
            rec = record_for(item, now, item.poll.options.max_age)
        else:
            return item
        routes = self.routes(now, {m.watch for m in rec.matches}) if rec.matches else None
        if self.dry_run:
            # nothing is stored, so an article two sources list is caught here
            new = rec.url_key not in self.dry_seen and not self.store.is_known(rec.url_key)
            self.dry_seen.add(rec.url_key)
            if new and routes is not None and not rec.too_old:
                self.rt.dry_run_matches.append((rec, routes))
            if new:
                self._counted(rec, item.poll)
            return item
        self.pending.append((rec, routes, item.poll))
        if len(self.pending) >= self.BATCH_SIZE:
            self.flush()
        elif self.timer is None:
            self.timer = call_later(self.BATCH_DELAY, self.flush)
        return item

    def flush(self) -> None:
        """Store the pending articles in one transaction. If that fails, each is tried
        on its own, so that one article the database refuses costs only itself."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if not batch:
            return
        try:
            ids = self.store.add_articles([(rec, routes) for rec, routes, _ in batch])
        except Exception:
            log.warning("storing %d articles together failed; storing them one by one",
                        len(batch), exc_info=log.isEnabledFor(logging.DEBUG))
            ids = [self._store_one(rec, routes, poll) for rec, routes, poll in batch]
        for (rec, _, poll), new_id in zip(batch, ids, strict=True):
            if new_id is not None:
                self._counted(rec, poll)

    def _store_one(self, rec: ArticleRecord, routes: dict[str, Route] | None,
                   poll: Poll) -> int | None:
        try:
            return self.store.add_article(rec, routes)
        except Exception as exc:  # counted in its run; the log says why, not a traceback
            log.error("[%s] could not store %s: %s", rec.source, rec.url,
                      str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            poll.count("errors")
            return None

    def _counted(self, rec: ArticleRecord, poll: Poll) -> None:
        """Count a newly stored (or, in a dry run, new) article and log its matches."""
        poll.count("too_old" if rec.too_old else "new_articles")
        if rec.matches and not rec.too_old:
            poll.count("matches", len(rec.matches))
            poll.count("alerts", rec.queued)
            for m in rec.matches:
                log.info("[%s] watch %s matches %s", rec.source, m.watch, rec.url)
