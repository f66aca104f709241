"""Store: write the articles (with their URL variants, matches and alerts), marking the
ones published before the source's max_age window as too old to ever alert. Articles
are written a batch at a time, a short transaction every quarter second or hundred
articles, and when the spider closes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.utils.asyncio import CallLaterResult, call_later

from config.digest import next_due
from config.models import Config
from spiders.items import ArticlePage, StaleLink
from spiders.links import parse_date
from spiders.urls import clean_url, url_key
from store.db import ArticleRecord, Store
from store.matches import Route

log = logging.getLogger(__name__)


def published_of(item: ArticlePage) -> datetime | None:
    """The page's own date, else the feed's or sitemap's."""
    extracted = item.extracted or {}
    date = parse_date(extracted.get("date"))
    return date or item.feed_date


def record_for(item: ArticlePage, now: datetime, window: timedelta | None) -> ArticleRecord:
    ex = item.extracted or {}
    published = published_of(item)
    # unknown date: the first-seen time (now) counts, which is inside any window
    too_old = window is not None and published is not None and published < now - window
    text = ex.get("text")
    return ArticleRecord(
        url=item.url, url_key=url_key(item.url), source=item.source,
        title=ex.get("title") or item.feed_title, text=text, author=ex.get("author"),
        published=published, language=ex.get("language"), sitename=ex.get("sitename"),
        fingerprint=ex.get("fingerprint"), too_old=too_old, has_text=bool(text),
        aliases=tuple(sorted(item.aliases)), matches=tuple(item.matches),
    )


Pending = tuple[ArticleRecord, dict[str, Route] | None]


class StorePipeline:
    # a dry run stores nothing; what it would have queued is kept here for the preview
    dry_run_matches: ClassVar[list[tuple[ArticleRecord, dict[str, Route]]]] = []
    # one transaction per article cost more reactor time than anything else we own; an
    # article waits at most this long in memory (a crash before then loses no alert: the
    # article is not stored, so the next crawl fetches and matches it again)
    BATCH_DELAY = 0.25
    BATCH_SIZE = 100

    def __init__(self, crawler: Crawler):
        self.stats = crawler.stats
        self.store = Store.shared(crawler.spidercls.config.database)  # type: ignore[attr-defined]
        self.dry_run = crawler.settings.getbool("NEWSWATCH_DRY_RUN")
        self.window: timedelta | None = crawler.spidercls.options.max_age  # type: ignore[attr-defined]
        self.config: Config = crawler.spidercls.config  # type: ignore[attr-defined]
        self.watches = {w.name: w for w in self.config.watches}
        self.name: str = crawler.spidercls.name
        self.tz = ZoneInfo(self.config.timezone)
        self.domain = self.config.alerts.msgid_domain
        self.pending: list[Pending] = []
        self.timer: CallLaterResult | None = None

    def routes(self, now: datetime, names: Iterable[str]) -> dict[str, Route]:
        """Recipients, digest and first send time of these watches, as of now (only the
        ones an article matched: a config may hold thousands)."""
        return {name: Route(tuple(self.config.recipients(w)), w.digest,
                            next_due(w.digest, self.tz, now), self.domain)
                for name in names if (w := self.watches.get(name)) is not None}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def close_spider(self, spider: Spider | None = None) -> None:
        self.flush()

    def _count(self, key: str, n: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"newswatch/{key}", n)

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        now = datetime.now(UTC)
        if isinstance(item, StaleLink):
            rec = ArticleRecord(url=clean_url(item.url), url_key=url_key(item.url),
                                source=item.source, title=item.title, published=item.published,
                                too_old=True, has_text=False)
        elif isinstance(item, ArticlePage):
            rec = record_for(item, now, self.window)
        else:
            return item
        routes = self.routes(now, {m.watch for m in rec.matches}) if rec.matches else None
        if self.dry_run:
            new = not self.store.is_known(rec.url_key)
            if new and routes is not None and not rec.too_old:
                self.dry_run_matches.append((rec, routes))
            if new:
                self._counted(rec)
            return item
        self.pending.append((rec, routes))
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
            ids = self.store.add_articles(batch)
        except Exception:
            log.warning("[%s] storing %d articles together failed; storing them one by one",
                        self.name, len(batch), exc_info=True)
            ids = [self._store_one(rec, routes) for rec, routes in batch]
        for (rec, _), new_id in zip(batch, ids, strict=True):
            if new_id is not None:
                self._counted(rec)

    def _store_one(self, rec: ArticleRecord, routes: dict[str, Route] | None) -> int | None:
        try:
            return self.store.add_article(rec, routes)
        except Exception:
            log.exception("[%s] could not store %s", self.name, rec.url)
            self._count("errors")
            return None

    def _counted(self, rec: ArticleRecord) -> None:
        """Count a newly stored (or, in a dry run, new) article and log its matches."""
        self._count("too_old" if rec.too_old else "new_articles")
        if rec.matches and not rec.too_old:
            self._count("matches", len(rec.matches))
            self._count("alerts", rec.queued)
            for m in rec.matches:
                log.info("[%s] watch %s matches %s", rec.source, m.watch, rec.url)
