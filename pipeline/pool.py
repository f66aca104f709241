"""The process pool that runs extraction off the reactor thread: one per crawl engine,
owned by whoever starts the crawl, workers recycled after a number of pages because
trafilatura's caches grow, a page that overruns its time limit kills its worker."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from pebble import ProcessPool

if TYPE_CHECKING:
    from newswatch.config.models import Source
    from newswatch.store.db import Store

log = logging.getLogger(__name__)

# a fresh worker costs about a second of warm-up (measured: recycling every 250 pages
# cost 10% of crawl throughput); 1,000 pages still bound the caches (RSS was flat over
# 2,000 pages in one process)
PAGES_PER_WORKER = 1000


class _WidePipes:
    """The multiprocessing context, but its one-way pipes (pebble's task and result
    channels) hold 1 MiB instead of 64 KiB. A page is about 170 KB: through a 64 KiB
    pipe, each hand-off to a worker takes several rounds of block and wake-up between
    the crawl process and the worker; a wide pipe takes the whole page in one write."""

    SIZE = 1 << 20

    def __init__(self, ctx: Any):
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def Pipe(self, duplex: bool = True) -> tuple[Any, Any]:
        reader, writer = self._ctx.Pipe(duplex)
        if not duplex and hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux only
            # above /proc/sys/fs/pipe-max-size the default size stays
            with contextlib.suppress(OSError):
                fcntl.fcntl(writer.fileno(), fcntl.F_SETPIPE_SZ, self.SIZE)
        return reader, writer


def _warm() -> None:
    # import in the worker before the first page so its time limit is not eaten by imports
    import newswatch.pipeline.extract  # noqa: F401


class ExtractionPool:
    """The extraction workers of one crawl engine. Its starter makes it (before the
    crawl imports Scrapy: see start()), hands it to the crawl in the crawler's settings
    (SETTING) and closes it when the crawl is over; `scrapy crawl NAME`, given none,
    gets one of its own from the clean pipeline."""

    SETTING = "NEWSWATCH_EXTRACTION_POOL"

    def __init__(self, workers: int | None = None):
        n = workers or int(os.environ.get("NEWSWATCH_EXTRACT_WORKERS", 0)) or (
            os.cpu_count() or 2)
        # forkserver: never fork the reactor process with its threads and sockets
        ctx: Any = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["newswatch.pipeline.warmup"])
        self.pool = ProcessPool(max_workers=n, max_tasks=PAGES_PER_WORKER,
                                initializer=_warm, context=_WidePipes(ctx))
        self._closing = threading.Lock()
        self.workers = n
        self._started = False
        self.lazy = False  # started by the crawl when a page is on its way
        log.debug("extraction pool made with %d workers", n)

    def __deepcopy__(self, memo: dict[int, Any]) -> ExtractionPool:
        return self  # Scrapy copies settings per crawler: these are live processes

    def start(self) -> ExtractionPool:
        """Start the workers in a background thread. Starting them blocks until the fork
        server has imported trafilatura (about half a second); begun before the crawl
        imports Scrapy, that wait overlaps the parent's own imports instead of stalling
        the reactor on the first page. A second call does nothing."""
        if not self._begin():
            return self
        # scheduling a task is pebble's public way to start a pool's workers
        threading.Thread(target=self.pool.schedule, args=(_warm,), daemon=True,
                         name="extraction-pool-start").start()
        return self

    def _begin(self) -> bool:
        """Mark the workers started; False if they already were."""
        with self._closing:
            if self._started:
                return False
            self._started = True
        log.debug("extraction workers starting (%d)", self.workers)
        return True

    def start_on_demand(self) -> ExtractionPool:
        """Start the workers only once a page is on its way (the clean pipeline calls
        start() when the first article request is sent): a crawl whose feeds all answer
        "not modified" extracts nothing, and the fork server and its workers cost more
        CPU than the rest of such a crawl's start-up."""
        self.lazy = True
        return self

    def schedule(self, function: Callable[..., Any], args: tuple[Any, ...],
                 timeout: float) -> Future[Any]:
        self._begin()  # pebble starts the workers for the first task
        return self.pool.schedule(function, args=args, timeout=timeout)

    def close(self, wait: float = 10) -> None:
        """Stop the workers, giving the pages they hold `wait` seconds; a second call (a
        worker's stop path, then its finally) finds nothing left to do."""
        with self._closing:
            # pebble's `active` starts a pool that never ran: one that never started
            # has nothing to stop
            if not self._started or not self.pool.active:
                return
            self.pool.close()
            # pebble raises TimeoutError while its workers are still busy (on a loaded
            # machine, still starting): then they are stopped
            with contextlib.suppress(TimeoutError):
                self.pool.join(timeout=wait)
            if self.pool.active:
                self.pool.stop()
                self.pool.join()

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def crawl_pool(store: Store, sources: Iterable[Source]) -> ExtractionPool:
    """The pool of a one-off crawl of these sources: started at once (the workers'
    warm-up overlaps the crawl's own start-up) when a listing of theirs has no
    validators stored (pages are coming: a first crawl, or a site that sends none), else
    started on demand (a re-crawl whose listings all answer "not modified" never pays
    for the workers)."""
    from sqlalchemy import select

    from newswatch.store import schema

    t = schema.http_validators
    with store.reader.connect() as conn:
        known = set(conn.execute(select(t.c.url)).scalars())
    pool = ExtractionPool()
    if all(url in known for source in sources for url in source.start_urls()):
        return pool.start_on_demand()
    return pool.start()

