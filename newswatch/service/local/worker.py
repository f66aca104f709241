"""The long-lived crawl worker: one process, one Scrapy engine, one extraction pool, one
loaded config, polling many sources at once and taking new polls while it runs. Under
`newswatch run` it talks to the daemon over its standard input and output, one JSON
object a line (StdioFeed); its log goes to standard error, which the daemon reads.

Orders in:  {"op": "poll", "id", "source", "due"}  |  {"op": "reload"}  |  {"op": "drain"}
Events out: {"ev": "ready"}  |  {"ev": "started", "id", "run_id"}  |  {"ev": "done", ...}

"drain" (or the end of standard input) lets the running polls finish, then the worker
exits 0; "reload" reads the config file again (running polls keep their source)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from newswatch.config.loader import ConfigError, load_config
from newswatch.config.models import Config
from newswatch.config.private import mask_url
from newswatch.exits import EXIT_OK
from newswatch.pipeline.pool import ExtractionPool
from newswatch.spiders.poll import PollOrder, PollOutcome
from newswatch.spiders.runtime import Runtime

log = logging.getLogger(__name__)


class StdioFeed:
    """The worker's end of the local queue: orders from a pipe, events to another."""

    def __init__(self, orders: Any, events_fd: int, config_path: Path):
        self.orders = orders
        self.events_fd = events_fd
        self.config_path = config_path
        self.runtime: Runtime | None = None
        self._queue: asyncio.Queue[PollOrder | None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def send(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event) + "\n").encode()
        with self._lock:
            os.write(self.events_fd, line)

    async def take(self) -> PollOrder | None:
        if self._queue is None:
            self._loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue()
            threading.Thread(target=self._read, name="worker-orders", daemon=True).start()
            self.send({"ev": "ready", "pid": os.getpid()})
        return await self._queue.get()

    def _read(self) -> None:
        assert self._loop is not None and self._queue is not None
        queue, loop = self._queue, self._loop
        for line in self.orders:
            try:
                message = json.loads(line)
                op = message.get("op")
            except (ValueError, AttributeError):
                log.error("worker: unreadable order %r", line[:200])
                continue
            if op == "poll":
                loop.call_soon_threadsafe(queue.put_nowait, PollOrder.from_json(message))
            elif op == "reload":
                loop.call_soon_threadsafe(self._reload)
            elif op == "drain":
                break
        log.info("worker: draining (no new polls; the running ones finish)")
        loop.call_soon_threadsafe(queue.put_nowait, None)

    def _reload(self) -> None:
        try:
            config = load_config(self.config_path)
        except (ConfigError, OSError) as exc:
            log.error("worker: the new config is invalid; keeping the old one: %s", exc)
            return
        if self.runtime is not None:
            if config.database != self.runtime.config.database:
                log.error("worker: a new database needs a new worker; keeping %s",
                          mask_url(self.runtime.config.database))
                return
            self.runtime.config = config
        log.info("worker: config reloaded from %s", self.config_path)

    def started(self, order: PollOrder, run_id: int | None) -> None:
        self.send({"ev": "started", "id": order.id, "run_id": run_id})

    def finished(self, outcome: PollOutcome) -> None:
        self.send({"ev": "done", **outcome.to_json()})


def run_worker(config: Config, config_path: Path) -> int:
    """`newswatch worker --stdio`: serve the daemon until told to drain."""
    # the events have standard output to themselves: anything else that prints goes to
    # the log (standard error) instead of into the protocol
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    pool = ExtractionPool().start()
    try:
        from newswatch.service.engine import engine_process, scrapy_settings

        feed = StdioFeed(sys.stdin, events_fd, config_path)
        rt = Runtime(config, feed, reloadable=True)
        feed.runtime = rt
        process, _ = engine_process(scrapy_settings(config, config_path, rt, pool,
                                                    LOG_LEVEL="INFO"))
        process.start()
        rt.close()
    finally:
        pool.close()
    return EXIT_OK
