"""Store: write the articles (with their URL variants, matches and alerts), marking the
ones published before the source's max_age window as too old to ever alert. Articles
are written a batch at a time, a short transaction every quarter second or hundred
articles, and when the spider closes, on the store's writer thread (store.threads): the
crawl's event loop never waits for the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
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
from newswatch.spiders.known import store_threads
from newswatch.spiders.poll import Poll
from newswatch.spiders.runtime import runtime
from newswatch.spiders.urls import clean_url, url_key
from newswatch.store.db import ArticleRecord, Store
from newswatch.store.errors import why
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
Batch = list[tuple[ArticleRecord, dict[str, Route] | None]]
# what became of each article of a batch: its new id, None (already stored), or why the
# database refused it
Stored = int | None | Exception


def store_batch(store: Store, batch: Batch) -> list[Stored]:
    """Store the articles in one transaction. If that fails, each is tried on its own,
    so that one article the database refuses costs only itself. (On the writer thread.)"""
    try:
        return list(store.add_articles(batch))
    except Exception:
        log.warning("storing %d articles together failed; storing them one by one",
                    len(batch), exc_info=log.isEnabledFor(logging.DEBUG))
    out: list[Stored] = []
    for rec, routes in batch:
        try:
            out.append(store.add_article(rec, routes))
        except Exception as exc:  # counted in its run, which says why
            out.append(exc)
    return out


class StorePipeline:
    # one transaction per article cost more than anything else we own; an article waits
    # at most this long in memory (a crash before then loses no alert: the article is
    # not stored, so the next crawl fetches and matches it again)
    BATCH_DELAY = 0.25
    BATCH_SIZE = 100

    def __init__(self, crawler: Crawler):
        self.rt = runtime(crawler)
        self.threads = store_threads(crawler)
        self.store = self.threads.store
        self.dry_run = self.rt.dry_run
        self._watches: tuple[Config, dict[str, Watch], ZoneInfo] | None = None
        self.pending: list[Pending] = []
        self.dry_seen: set[str] = set()
        self.timer: CallLaterResult | None = None
        # batches handed to the writer thread and not yet counted
        self.writing: set[asyncio.Future[None]] = set()
        # a poll's run is recorded only once its articles are written
        crawler.signals.connect(self._poll_closing, signal=poll_closing)

    def _poll_closing(self, poll: Poll) -> Awaitable[Any] | None:
        """Write what is pending now; what the board awaits before recording the run:
        every batch handed over so far (the writer does them in order)."""
        self.flush()
        return self.drained()

    def drained(self) -> Awaitable[Any] | None:
        """Done when every batch handed over so far is stored and counted."""
        if not self.writing:
            return None
        return asyncio.gather(*self.writing, return_exceptions=True)

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

    async def close_spider(self, spider: Spider | None = None) -> None:
        """The spider closes: every pending article is stored before it is closed."""
        self.flush()
        done = self.drained()
        if done is not None:
            await done

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
            return self._dry(item, rec, routes)
        self.pending.append((rec, routes, item.poll))
        if len(self.pending) >= self.BATCH_SIZE:
            self.flush()
        elif self.timer is None:
            self.timer = call_later(self.BATCH_DELAY, self.flush)
        return item

    async def _dry(self, item: Any, rec: ArticleRecord, routes: dict[str, Route] | None
                   ) -> Any:
        # nothing is stored, so an article two sources list is caught here
        new = rec.url_key not in self.dry_seen and not await self.threads.read(
            self.store.is_known, rec.url_key)
        self.dry_seen.add(rec.url_key)
        if new and routes is not None and not rec.too_old:
            self.rt.dry_run_matches.append((rec, routes))
        if new:
            self._counted(rec, item.poll)
        return item

    def flush(self) -> None:
        """Hand the pending articles to the writer thread, one transaction for all."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if not batch:
            return
        stored = self.threads.write(store_batch, self.store,
                                    [(rec, routes) for rec, routes, _ in batch])
        task = asyncio.ensure_future(self._count(batch, stored))
        self.writing.add(task)
        task.add_done_callback(self.writing.discard)

    async def _count(self, batch: list[Pending], stored: Awaitable[list[Stored]]) -> None:
        """Count each article of a batch in its poll once the writer has stored it."""
        try:
            results: list[Stored] = await stored
        except Exception as exc:  # store_batch catches all; this is the thread's end
            results = [exc] * len(batch)
        for (rec, _, poll), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                log.error("[%s] could not store %s: %s", rec.source, rec.url, why(result))
                poll.count("errors")
                poll.store_errors.append(why(result))
            elif result is not None:
                self._counted(rec, poll)

    def _counted(self, rec: ArticleRecord, poll: Poll) -> None:
        """Count a newly stored (or, in a dry run, new) article and log its matches."""
        poll.count("too_old" if rec.too_old else "new_articles")
        if rec.matches and not rec.too_old:
            poll.count("matches", len(rec.matches))
            poll.count("alerts", rec.queued)
            for m in rec.matches:
                log.info("[%s] watch %s matches %s", rec.source, m.watch, rec.url)
