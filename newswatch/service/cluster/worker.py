"""`newswatch worker -c CONFIG` with `queue:` set: a crawl worker taking polls from the
shared job queue (procrastinate on PostgreSQL), on any machine, beside any number of
others. The Scrapy engine is the one `newswatch run` uses; only its feed differs.

The queue side runs in a thread of its own with its own event loop: procrastinate's
worker fetches a poll job (at most `daemon.concurrent_sources` at once; a job's lock is
its source, so no two workers poll one source together), hands the order to the
engine's loop and waits for the poll's outcome, then marks the job done. procrastinate's
heartbeat tells the leading scheduler that the polls it holds are alive; polls of a
worker silent for three beats are failed and polled again elsewhere. The register that
`status` shows names procrastinate's entry of this worker (host, pid, draining).

If the queue's database goes away the queue side stops taking polls, logs one line,
and tries again with a growing pause (running polls go on); SIGTERM or SIGINT drains
(no new polls; running ones finish) and a second one stops at once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from procrastinate import App, JobContext
from procrastinate.worker import Worker

from newswatch.config.loader import ConfigError, load_config
from newswatch.config.models import Config
from newswatch.exits import EXIT_OK
from newswatch.pipeline.pool import ExtractionPool
from newswatch.service.cluster import database, lease
from newswatch.service.metrics import Process, serve
from newswatch.service.outcomes import Outcomes, Troubles
from newswatch.service.polls import LATE, STOP_GRACE
from newswatch.spiders.poll import PollOrder, PollOutcome
from newswatch.spiders.runtime import Runtime
from newswatch.store import schedules
from newswatch.store.db import Store, utcnow, worker_id
from newswatch.store.errors import why

log = logging.getLogger(__name__)

BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


class QueueFeed:
    """The engine's feed of polls from the shared queue (a PollFeed)."""

    def __init__(self, config: Config, store: Store, pool: ExtractionPool):
        assert config.queue is not None
        self.pool = pool  # closed by give_up(), which never returns
        self.config = config
        self.url = config.queue
        self.id = worker_id()
        self.metrics = Process()
        self.outcomes = Outcomes(store, config, metrics=self.metrics)
        self.troubles = Troubles(log)
        self.engine = database.make_engine(self.url)
        self.orders: asyncio.Queue[PollOrder | None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the engine's
        self.futures: dict[str, concurrent.futures.Future[PollOutcome]] = {}
        self.running: dict[str, tuple[PollOrder, int | None]] = {}
        self.lock = threading.Lock()
        self.draining = threading.Event()
        self.worker: Worker | None = None
        self.worker_loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.config_stamp = 0  # the config file's mtime when it was last read
        # called with each order's source before the engine gets it (the queue thread)
        self.on_order: Callable[[str], None] = lambda source: None
        # until when the source's site asked not to be polled (its stored schedule), read
        # as each job starts: a poll queued while the one before it ran runs right after
        # it, before the scheduler could have read what that poll's site asked
        self.asked_until: Callable[[str], datetime | None] = lambda source: None

    # -- the engine's side ------------------------------------------------------------------
    async def take(self) -> PollOrder | None:
        if self.orders is None:
            self.loop = asyncio.get_running_loop()
            self.orders = asyncio.Queue()
            self.thread = threading.Thread(target=self._serve, name="queue", daemon=True)
            self.thread.start()
        return await self.orders.get()

    def started(self, order: PollOrder, run_id: int | None) -> None:
        with self.lock:
            self.running[order.id] = (order, run_id)

    def finished(self, outcome: PollOutcome) -> None:
        self.outcomes.outcome(outcome, f" (worker {self.id})")
        with self.lock:
            self.running.pop(outcome.id, None)
            future = self.futures.pop(outcome.id, None)
        if future is not None and not future.done():
            future.set_result(outcome)

    def drain(self) -> None:
        """No new polls; the running ones finish, then the engine stops."""
        if self.draining.is_set():
            return
        self.draining.set()
        log.info("worker: draining (no new polls; the running ones finish)")
        worker, loop = self.worker, self.worker_loop
        if worker is not None and loop is not None:
            loop.call_soon_threadsafe(worker.stop)

    def give_up(self, grace: float) -> None:
        """Polls still running `grace` seconds after the drain began are cancelled (their
        jobs end; the sources' next firings poll them) and the engine stops."""
        with self.lock:
            left = list(self.running.values())
            futures = list(self.futures.items())
            self.running.clear()
            self.futures.clear()
        if left:
            log.info("worker %s: %d poll(s) did not finish in %g s; cancelled", self.id,
                     len(left), grace)
        for order, run_id in left:
            self.outcomes.lost(order, run_id, f"stopped with worker {self.id}", "cancelled")
        for poll_id, future in futures:
            if not future.done():
                future.set_result(PollOutcome(poll_id, "?", "cancelled"))
        if self.thread is not None:
            self.thread.join(5)
        # Scrapy's own stop would wait for the hanging downloads: everything worth
        # keeping is in the database now (runs closed, jobs ended, register left)
        log.info("worker %s stopped", self.id)
        logging.shutdown()
        self.pool.close(wait=0)  # what they hold is given up with the polls
        os._exit(EXIT_OK)

    def _hand(self, order: PollOrder | None) -> None:
        assert self.loop is not None and self.orders is not None
        self.loop.call_soon_threadsafe(self.orders.put_nowait, order)

    # -- the queue's side (its own thread and loop) -----------------------------------------
    def _serve(self) -> None:
        try:
            asyncio.run(self._serve_async())
        except Exception:  # never silent: the worker stops taking polls and exits
            log.exception("worker: the queue side failed")
        finally:
            self._hand(None)  # the engine ends when its running polls have

    async def _serve_async(self) -> None:
        self.worker_loop = asyncio.get_running_loop()
        failures = 0
        while not self.draining.is_set():
            started = time.monotonic()
            try:
                await self._run_once()
                if self.draining.is_set():
                    break
                raise RuntimeError("procrastinate's worker stopped by itself")
            except Exception as exc:
                if self.draining.is_set():
                    break
                failures = failures + 1 if time.monotonic() - started < 60 else 1
                pause = BACKOFF[min(failures, len(BACKOFF)) - 1]
                self.troubles.report("queue", f"worker {self.id}: the queue at "
                                              f"{database.where(self.url)} failed: "
                                              f"{why(exc)}; trying again every "
                                              f"{BACKOFF[0]:g}-{BACKOFF[-1]:g} s")
                await self._pause(pause)
        try:
            await asyncio.to_thread(lease.unregister_worker, self.engine, self.id)
        except Exception as exc:
            log.warning("worker %s: could not leave the register: %s", self.id, why(exc))

    async def _pause(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.draining.is_set():
            await asyncio.sleep(0.2)

    async def _run_once(self) -> None:
        app = database.make_app(self.url)
        self._register_task(app)
        heartbeat = self.config.daemon.heartbeat.total_seconds()
        async with app.open_async():
            worker = Worker(
                app, queues=[database.QUEUE], name=self.id,
                concurrency=self.config.daemon.concurrent_sources,
                install_signal_handlers=False, listen_notify=True,
                fetch_job_polling_interval=max(1.0, heartbeat),
                # procrastinate's heartbeat is the only one: the leader takes over the
                # polls of a worker it has not heard for three beats
                update_heartbeat_interval=heartbeat,
                # a starting worker drops entries silent this long (not three beats:
                # `status` shows a dead worker silent for a while)
                stalled_worker_timeout=lease.forget_after(heartbeat),
                delete_jobs="successful", shutdown_graceful_timeout=None)
            self.worker = worker
            named = asyncio.create_task(self._name(app, worker, heartbeat))
            try:
                log.info("worker %s: taking polls from the queue at %s", self.id,
                         database.where(self.url))
                self.troubles.cleared("queue", f"worker {self.id}: the queue works again")
                await worker.run()
            finally:
                self.worker = None
                named.cancel()

    async def _name(self, app: App, worker: Worker, heartbeat: float) -> None:
        """Name procrastinate's entry of this worker in the register (host, pid), and
        look every beat that it is still there (named again if not; a line when the
        database cannot be reached, and one when it answers again: procrastinate's
        pool waits for it silently). While draining, say so and keep the heartbeat
        going: procrastinate's own stops when its worker is told to stop, while it waits
        for the running polls, and without it the leader would take them for lost and
        queue them again while they finish here."""
        while worker.worker_id is None:  # procrastinate registers it as run() starts
            await asyncio.sleep(0.05)
        queue_worker = worker.worker_id
        said_draining = False
        while True:
            try:
                if not await asyncio.to_thread(lease.named, self.engine, queue_worker):
                    await asyncio.to_thread(lease.register_worker, self.engine,
                                            queue_worker, self.id)
                if self.draining.is_set():
                    if not said_draining:
                        await asyncio.to_thread(lease.set_state, self.engine, self.id,
                                                "draining")
                        said_draining = True
                    await app.job_manager.update_heartbeat(queue_worker)
            except Exception as exc:
                self.troubles.outage("beat", f"worker {self.id}: the queue's database at "
                                             f"{database.where(self.url)} cannot be reached: "
                                             f"{why(exc)}; its running polls go on")
            else:
                self.troubles.cleared("beat", f"worker {self.id}: the queue's database "
                                              "answers again")
            await asyncio.sleep(heartbeat)

    def _register_task(self, app: App) -> None:
        feed = self

        @app.task(name=database.TASK, queue=database.QUEUE, pass_context=True)
        async def poll(context: JobContext, source: str, due: float) -> dict[str, Any]:
            job = context.job
            wait = await asyncio.to_thread(feed.asked_until, source)
            if wait is not None and wait > utcnow():
                log.info("[%s] not polled: its site asked not before %s (the poll queued "
                         "while the one before ran)", source, wait)
                return {"status": "skipped", "run_id": None}
            order = PollOrder(source, due, id=f"{job.id}.{job.attempts}")
            future: concurrent.futures.Future[PollOutcome] = concurrent.futures.Future()
            with feed.lock:
                feed.futures[order.id] = future
            late = time.time() - due
            log.info("[%s] crawl started%s (worker %s)", source,
                     f" {late:.0f} s late" if late > LATE else "", feed.id)
            await asyncio.to_thread(feed.on_order, source)
            feed._hand(order)
            outcome = await asyncio.wrap_future(future)
            return {"status": outcome.status, "run_id": outcome.run_id}


def run_queue_worker(config: Config, config_path: Path) -> int:
    """Serve the queue until SIGTERM/SIGINT has drained the worker."""
    assert config.queue is not None
    database.check_schema(config.queue)  # set up and upgraded by `newswatch migrate`
    pool = ExtractionPool().start()
    try:
        from newswatch.service.engine import engine_process, scrapy_settings

        store = Store(config.database)
        feed = QueueFeed(config, store, pool)
        rt = Runtime(config, feed, reloadable=True, store=store)
        process, _ = engine_process(scrapy_settings(config, config_path, rt, pool,
                                                    LOG_LEVEL="INFO"))
        signals_seen = [0]

        def on_signal(signum: int, frame: FrameType | None) -> None:
            signals_seen[0] += 1
            if signals_seen[0] > 1:
                log.warning("worker %s: stopped at once (second signal)", feed.id)
                os._exit(1)
            feed.drain()
            timer = threading.Timer(STOP_GRACE, feed.give_up, [STOP_GRACE])
            timer.daemon = True
            timer.start()

        def reload(why: str) -> None:
            # the same config as the schedulers' (new sources, new watches): running
            # polls keep the source they started with
            try:
                fresh = load_config(config_path)
            except (ConfigError, OSError) as exc:
                log.error("%s: the new config is invalid; keeping the old one: %s", why, exc)
                return
            if fresh.database != rt.config.database or fresh.queue != config.queue:
                log.error("%s: a new database or queue needs a new worker; keeping the "
                          "old config", why)
                return
            rt.config = feed.outcomes.config = fresh
            log.info("%s: config reloaded from %s", why, config_path)

        def on_hup(signum: int, frame: FrameType | None) -> None:
            reload("SIGHUP")

        def unknown(source: str) -> None:
            # a scheduler with a newer config hands out a source this worker lacks: read
            # the file again (if it changed) before the poll fails for want of it
            stamp = config_path.stat().st_mtime_ns if config_path.exists() else 0
            if rt.source(source) is None and stamp != feed.config_stamp:
                feed.config_stamp = stamp
                reload(f"[{source}] unknown source")

        def asked_until(source: str) -> datetime | None:
            try:
                pace = schedules.load(store, source)
            except Exception as exc:  # polled as queued: the site's word is kept next time
                log.debug("[%s] schedule not read: %s", source, why(exc))
                return None
            return pace.next_poll if pace is not None and pace.asked else None

        feed.config_stamp = config_path.stat().st_mtime_ns
        feed.on_order = unknown
        feed.asked_until = asked_until

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        signal.signal(signal.SIGHUP, on_hup)
        if config.metrics.listen:
            serve(config.metrics.listen, feed.metrics.registry,
                  lambda: not feed.draining.is_set())
        log.info("worker %s starting (queue %s, up to %d polls at once)", feed.id,
                 database.where(feed.url), config.daemon.concurrent_sources)
        process.start(install_signal_handlers=False)
        log.info("worker %s stopped", feed.id)
        store.close()
    finally:
        pool.close()
    return EXIT_OK
