"""The process pool that runs extraction off the reactor thread: one per process,
shared by every crawler in it, workers recycled after a number of pages because
trafilatura's caches grow, a page that overruns its time limit kills its worker."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import os
import threading
from typing import Any, ClassVar

from pebble import ProcessPool

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
    _pool: ClassVar[ProcessPool | None] = None
    _users: ClassVar[int] = 0

    @classmethod
    def acquire(cls, workers: int | None = None) -> ProcessPool:
        if cls._pool is None:
            n = workers or int(os.environ.get("NEWSWATCH_EXTRACT_WORKERS", 0)) or (
                os.cpu_count() or 2)
            # forkserver: never fork the reactor process with its threads and sockets
            ctx: Any = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["newswatch.pipeline.warmup"])
            cls._pool = ProcessPool(max_workers=n, max_tasks=PAGES_PER_WORKER,
                                    initializer=_warm, context=_WidePipes(ctx))
            log.debug("extraction pool started with %d workers", n)
        cls._users += 1
        return cls._pool

    @classmethod
    def start_early(cls) -> None:
        """Acquire the pool and start its workers in a background thread. Starting them
        blocks until the fork server has imported trafilatura (about half a second);
        begun before the crawl imports Scrapy, that wait overlaps the parent's own
        imports instead of stalling the reactor on the first page. Pair with release()."""
        pool = cls.acquire()
        # scheduling a task is pebble's public way to start a pool's workers
        threading.Thread(target=pool.schedule, args=(_warm,), daemon=True,
                         name="extraction-pool-start").start()

    @classmethod
    def release(cls) -> None:
        cls._users -= 1
        if cls._users <= 0 and cls._pool is not None:
            cls._pool.close()
            # pebble raises TimeoutError while its workers are still busy (on a loaded
            # machine, still starting): then they are stopped
            with contextlib.suppress(TimeoutError):
                cls._pool.join(timeout=10)
            if cls._pool.active:
                cls._pool.stop()
                cls._pool.join()
            cls._pool = None
            cls._users = 0
