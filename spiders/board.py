"""The board of running polls (a Scrapy extension): opens each poll's run in the store,
ends it when its last request and last page are done, or at the source's time limit
(its outstanding requests dropped, the run failed with the reason) without touching the
other polls, and reports each outcome to the feed. The runs are written on the store's
writer thread (store.threads), a poll's after its articles."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Mapping
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.asyncio import CallLaterResult, call_later

from newswatch.config.pacing import Limits, Polled, decide
from newswatch.config.units import format_duration
from newswatch.spiders.failures import summary
from newswatch.spiders.known import store_threads
from newswatch.spiders.poll import Poll, PollOrder, PollOutcome
from newswatch.spiders.runtime import Runtime, runtime
from newswatch.spiders.tls import tls_policy
from newswatch.store import schedules
from newswatch.store.db import Store, utcnow
from newswatch.store.errors import why
from newswatch.store.threads import StoreThreads

log = logging.getLogger(__name__)

# sent (with poll=) just before a poll's run is recorded: whoever holds its articles in
# memory (the store pipeline's batch) writes them now
poll_closing = object()

COUNTERS = ("pages", "new_articles", "too_old", "no_text", "known", "matches", "alerts",
            "errors", "links", "bad_links")


def run_counts(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: int(counts.get(k, 0)) for k in (*COUNTERS, "listings", "listing_ok",
                                               "listing_failed", "not_html",
                                               "extract_ms")}


def run_status(counts: Mapping[str, int]) -> str:
    """failed: no feed, sitemap or listing page could be fetched and read; partial: some
    could not (a run that could not read one of its feeds is never ok)."""
    if counts.get("listings", 0) and counts.get("listing_ok", 0) <= 0:
        return "failed"
    if counts.get("listing_failed", 0) > 0:
        return "partial"
    return "ok"


class RunStarts:
    """Polls' runs opened together: each start hands a job to the writer thread, and the
    first of them to run opens every run waiting by then in one transaction (the others
    find none left). A crawl opens up to daemon.concurrent_sources polls at once, and a
    transaction each was most of the store's work for a poll that finds nothing new."""

    def __init__(self, threads: StoreThreads):
        self.threads = threads
        self.waiting: deque[tuple[str, asyncio.Future[int]]] = deque()

    async def start(self, source: str) -> int:
        """The new run's id (or the database's error, for each run of its batch)."""
        mine: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting.append((source, mine))
        # jobs run in order: this one, or one before it, takes this source
        for future, result in await self.threads.write(self._open):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        return await mine

    def _open(self) -> list[tuple[asyncio.Future[int], int | Exception]]:
        """(On the writer thread.) Every run waiting now, in one transaction."""
        batch = []
        while self.waiting:  # deque pops are thread-safe
            batch.append(self.waiting.popleft())
        if not batch:
            return []
        try:
            ids: list[int | Exception] = list(self.threads.store.start_runs(
                [source for source, _ in batch]))
        except Exception as exc:
            ids = [exc] * len(batch)
        return [(future, run_id) for (_, future), run_id in zip(batch, ids, strict=True)]


class PollBoard:
    def __init__(self, crawler: Crawler, rt: Runtime):
        self.crawler = crawler
        self.rt = rt
        self.threads: StoreThreads | None = None if rt.dry_run else store_threads(crawler)
        self.starts = RunStarts(self.threads) if self.threads is not None else None
        self.polls: dict[str, Poll] = {}
        self.timers: dict[str, CallLaterResult] = {}
        self.recording: set[asyncio.Future[None]] = set()  # runs being written
        for sig in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(self._item_done, signal=sig)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened)

    def _spider_opened(self, spider: Spider) -> None:
        log.info("crawl engine started (pid %d): one crawler for every source", os.getpid())

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PollBoard:
        board = cls(crawler, runtime(crawler))
        crawler.newswatch_board = board  # type: ignore[attr-defined]
        return board

    @classmethod
    def of(cls, crawler: Crawler) -> PollBoard:
        board = getattr(crawler, "newswatch_board", None)
        if not isinstance(board, PollBoard):
            raise RuntimeError("newswatch.spiders.board.PollBoard is not among the EXTENSIONS")
        return board

    async def open(self, order: PollOrder) -> Poll | None:
        """Start a poll: its run in the store and its clock. None (and a failed outcome)
        for a source that the config no longer has."""
        source = self.rt.source(order.source)
        if source is None:
            log.warning("[%s] not polled: no such source in the config", order.source)
            self.rt.feed.finished(PollOutcome(order.id, order.source, "failed",
                                              message="no such source in the config"))
            return None
        limit = self.rt.config.daemon.time_limit
        poll = Poll(order, source, source.crawl(self.rt.config.crawl),
                    deadline=time.monotonic() + limit.total_seconds(), on_idle=self._idle)
        poll.started = utcnow()
        tls_policy(self.crawler.settings).register(source.start_urls(),
                                                   poll.options.verify_tls)
        if self.starts is not None:
            poll.run_id = await self.starts.start(source.name)
        self.polls[order.id] = poll
        self.timers[order.id] = call_later(limit.total_seconds(), self._expire, poll)
        self.rt.feed.started(order, poll.run_id)
        return poll

    def not_started(self, order: PollOrder, message: str) -> None:
        self.rt.feed.finished(PollOutcome(order.id, order.source, "failed", message=message))

    def _item_done(self, item: Any, **kwargs: Any) -> None:
        poll = getattr(item, "poll", None)
        if isinstance(poll, Poll):
            poll.release()

    def _idle(self, poll: Poll) -> None:
        self.finish(poll)

    def _expire(self, poll: Poll) -> None:
        if poll.open:
            limit = format_duration(self.rt.config.daemon.time_limit)
            self.finish(poll, "failed", f"time limit ({limit}) reached with "
                                        f"{poll.pending} request(s) or page(s) outstanding")

    def finish(self, poll: Poll, status: str | None = None, message: str | None = None) -> None:
        """End the poll: its pending requests are dropped as they come up, and once its
        articles are written its run is recorded and the feed hears how it went."""
        if not poll.open:
            return
        poll.state = "closing"
        timer = self.timers.pop(poll.order.id, None)
        if timer is not None:
            timer.cancel()
        # whoever holds its articles (the store pipeline's batch) hands them to the
        # writer now, and says what to wait for
        waits = [r for _, r in self.crawler.signals.send_catch_log(poll_closing, poll=poll)
                 if isinstance(r, Awaitable)]
        task = asyncio.ensure_future(self._record(poll, status, message, waits))
        self.recording.add(task)
        task.add_done_callback(self.recording.discard)

    async def _record(self, poll: Poll, status: str | None, message: str | None,
                      waits: list[Awaitable[Any]]) -> None:
        try:
            for wait in waits:
                await wait
            status, message = self._outcome(poll, status, message)
            counts = run_counts(poll.counts)
            poll.state = status
            if self.threads is not None and poll.run_id is not None:
                try:
                    await self.threads.write(_record_run, self.threads.store, poll, status,
                                             counts, message)
                except Exception as exc:  # the outcome still reaches the feed, which says so
                    status, message = "failed", f"its run could not be recorded: {why(exc)}"
                    log.error("[%s] %s", poll.name, message)
                if status != "cancelled":  # a poll stopped on purpose says nothing of the site
                    await self.threads.write(_pace, self.threads.store, poll, counts)
            poll.state = status
        finally:
            self.polls.pop(poll.order.id, None)
        line = (f"[{poll.name}] run {status}: pages {counts['pages']}, new "
                f"{counts['new_articles']}, no text {counts['no_text']}, matches "
                f"{counts['matches']}, errors {counts['errors']}"
                + (f" ({message})" if message else ""))
        log.debug(line)  # whoever runs the engine reports outcomes (the table, the daemon)
        duration = (utcnow() - poll.started).total_seconds() if poll.started else None
        self.rt.feed.finished(PollOutcome(poll.order.id, poll.name, status, counts, message,
                                          poll.run_id, duration))

    def _outcome(self, poll: Poll, status: str | None,
                 message: str | None) -> tuple[str, str | None]:
        """The run's status and why, its articles written: articles the database refused
        make a run that went well partial, and are named in its message."""
        counts = run_counts(poll.counts)
        if status is None:
            status = run_status(counts)
            message = message or summary(poll.failures, poll.source.start_urls())
        if poll.store_errors:
            lost = (f"{len(poll.store_errors)} article(s) could not be stored: "
                    f"{poll.store_errors[-1]}")
            message = f"{message}; {lost}" if message else lost
            if status == "ok":
                status = "partial"
        return status, message

    async def _spider_closed(self, spider: Spider, reason: str) -> None:
        # stopped on purpose (SIGTERM, the daemon shutting down) is not a failure
        status = "cancelled" if reason == "shutdown" else "failed"
        for poll in list(self.polls.values()):
            self.finish(poll, status, f"the crawl stopped ({reason})")
        # every run recorded before the engine stops
        await asyncio.gather(*self.recording, return_exceptions=True)


def _record_run(store: Store, poll: Poll, status: str, counts: dict[str, int],
                message: str | None) -> None:
    """A poll's validators (if it went well) and its run. (On the writer thread.)"""
    if status == "ok" and not counts["errors"]:
        for url, (etag, modified) in poll.validators.items():
            store.save_validators(url, etag, modified)
    store.finish_run(poll.run_id, status, counts, message)  # type: ignore[arg-type]


def _pace(store: Store, poll: Poll, counts: Mapping[str, int]) -> None:
    """The source's next poll, decided from what this one found and what its site asked
    (newswatch.config.pacing), stored for the scheduler. (On the writer thread.)"""
    polled = Polled(counts.get("new_articles", 0), poll.throttled, poll.asked,
                    tuple(poll.listed))
    try:
        pace = decide(schedules.load(store, poll.name), polled, utcnow(), Limits.of(poll.source))
        schedules.save(store, poll.name, pace)
    except Exception as exc:  # the scheduler falls back on the source's `every`
        log.error("[%s] its next poll could not be scheduled: %s", poll.name, exc)
        return
    log.debug("[%s] next poll %s (%s)", poll.name, pace.next_poll, pace.reason)
