"""The store off the crawl's event loop (the Scrapy reactor): writes go to one writer
thread, which does them in the order they were handed over (so a poll's articles are
stored before its run is recorded), and lookups to a few reader threads. Each call
returns an asyncio future for the crawl to await; an exception in a thread is that
future's, for whoever awaits it to report. Work handed over is never dropped: closing
waits for it, and so does the interpreter's exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from newswatch.store.db import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

# lookups at once: the reader engine's pool (5 connections) is not waited for
READERS = 4


class StoreThreads:
    def __init__(self, store: Store, readers: int = READERS):
        self.store = store
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="newswatch-store-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="newswatch-store-read")

    def write(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run fn(*args) on the writer thread, after every write handed over before."""
        return asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    def read(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run a lookup on a reader thread."""
        return asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    def close(self) -> None:
        """Wait for every write handed over, then stop the threads."""
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
