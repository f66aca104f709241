"""What one crawler knows of newswatch: the loaded config (replaced on reload, while
running polls keep the source they started with), the feed of polls it takes, and
whether this is a dry run. Components reach it through `runtime(crawler)`, set in the
crawler's settings (NEWSWATCH_RUNTIME) by whoever starts the crawl; `scrapy crawl NAME`
builds one from NEWSWATCH_CONFIG."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler

from newswatch.config.loader import load_config
from newswatch.config.models import Config, Source
from newswatch.spiders.poll import PollFeed, PollOrder, PollOutcome
from newswatch.store.db import Store

log = logging.getLogger(__name__)


class ListFeed:
    """A fixed list of polls (a one-off crawl), at most `limit` of them at once; later
    ones wait for a running one to end."""

    def __init__(self, sources: Iterable[str], limit: int = 100):
        self.orders = deque(PollOrder(name) for name in sources)
        self.limit = max(1, limit)
        self.running = 0
        self.outcomes: list[PollOutcome] = []
        self._freed: asyncio.Event | None = None

    async def take(self) -> PollOrder | None:
        while self.orders and self.running >= self.limit:
            if self._freed is None:
                self._freed = asyncio.Event()
            self._freed.clear()
            await self._freed.wait()
        if not self.orders:
            return None
        self.running += 1
        return self.orders.popleft()

    def started(self, order: PollOrder, run_id: int | None) -> None:
        pass

    def finished(self, outcome: PollOutcome) -> None:
        self.running -= 1
        self.outcomes.append(outcome)
        if self._freed is not None:
            self._freed.set()


class Runtime:
    def __init__(self, config: Config, feed: PollFeed, dry_run: bool = False,
                 reloadable: bool = False, store: Store | None = None):
        self.config = config
        # the crawl's database, one for all its parts (the board, the known-article
        # lookups, dedupe, the store pipeline): its starter's, else opened on first use
        # and closed by close(); a reloaded config keeps the database (workers refuse a
        # new one)
        self._store = store
        self._owned: Store | None = None
        self.feed = feed
        self.dry_run = dry_run
        # a long-lived worker may be given a new config: parts that a config without
        # watches would switch off stay on
        self.reloadable = reloadable
        # a dry run stores nothing: what it would have queued, (ArticleRecord, routes),
        # is kept here for the preview
        self.dry_run_matches: list[tuple[Any, Any]] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> Runtime:
        # Scrapy deep-copies its settings for each crawler: this is a live object that
        # the crawler and whoever started it share, never a value to copy
        return self

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self._owned = Store(self.config.database)
        return self._store

    def close(self) -> None:
        """Close the database it opened itself (not its starter's)."""
        if self._owned is not None:
            self._owned.close()
            self._store = self._owned = None

    def source(self, name: str) -> Source | None:
        try:
            return self.config.source(name)
        except KeyError:
            return None


def runtime(crawler: Crawler) -> Runtime:
    found = getattr(crawler, "newswatch_runtime", None)
    if isinstance(found, Runtime):
        return found
    given = crawler.settings.get("NEWSWATCH_RUNTIME")
    if isinstance(given, Runtime):
        rt = given
    else:  # `scrapy crawl NAME` from the repository root
        config = load_config(crawler.settings.get("NEWSWATCH_CONFIG") or None)
        names = getattr(crawler.spidercls, "sources", None) or [s.name for s in config.sources]
        rt = Runtime(config, ListFeed(names), crawler.settings.getbool("NEWSWATCH_DRY_RUN"))
        crawler.signals.connect(rt.close, signal=signals.engine_stopped)
    crawler.newswatch_runtime = rt  # type: ignore[attr-defined]
    return rt
