"""`newswatch run`: the daemon. APScheduler (3.x) in this process fires each source on
its own schedule and hands the due poll to the queue: without `queue:` the local one
(newswatch.queue), which runs it in this daemon's long-lived crawl worker and reports
each outcome here; with `queue:` the shared one (newswatch.shared_queue), whose workers
run anywhere. The outbox sender and the digests run here on their own clock. Without
`queue:` one daemon per database (a lock file); with it several, of which the one
holding the lease acts and the others stand by."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import random
import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from newswatch.alerts import outbox
from newswatch.alerts.deliver import deliver
from newswatch.alerts.transport import kinds
from newswatch.config.loader import ConfigError, load_config
from newswatch.config.models import Config, Source
from newswatch.config.private import mask_url, write_private
from newswatch.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from newswatch.metrics import Process, QueueCollector, alert_delays, serve
from newswatch.outcomes import Outcomes, why
from newswatch.queue import STOP_GRACE, LocalQueue, PollQueue
from newswatch.spiders.poll import PollOrder
from newswatch.store import retention
from newswatch.store.db import Store, utcnow

log = logging.getLogger(__name__)



def lock_path(config: Config, config_path: Path) -> Path:
    """A lock file next to the SQLite file, or by the config for other databases."""
    url = make_url(config.database)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database) + ".daemon.lock")
    digest = hashlib.sha256(config.database.encode()).hexdigest()[:12]
    return config_path.resolve().parent / f".newswatch-{digest}.daemon.lock"


def acquire_lock(path: Path) -> IO[str] | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _jitter(source: Source) -> float:
    """Up to 10% of the interval, at most 30 s: sources do not all fire together."""
    return min(source.interval.total_seconds() * 0.1, 30.0)


class Daemon:
    def __init__(self, config_path: Path, config: Config):
        self.config_path = config_path
        self.config = config
        # crawls read the config the daemon validated, not whatever the file holds now:
        # a broken edit waits for SIGHUP (and is refused there); same folder, so relative
        # paths inside it mean the same
        self.snapshot = config_path.resolve().parent / f".{config_path.name}.running"
        write_private(self.snapshot, config_path.read_text(encoding="utf-8"))
        self.store = Store(config.database)
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.metrics = Process()
        self.outcomes = Outcomes(self.store, config, metrics=self.metrics)
        self.acting = False  # scheduling and sending: this daemon leads
        self.queue: PollQueue
        if config.queue is not None:
            from newswatch.shared_queue import ClusterQueue

            self.queue = ClusterQueue(config, self.outcomes)
        else:
            self.queue = LocalQueue(config, self.snapshot, self.outcomes.outcome,
                                    self.outcomes.lost)
            self.metrics.registry.register(QueueCollector(self.queue))
        self.scheduler = BackgroundScheduler(
            timezone=config.timezone,
            # jobs only queue a poll or send the outbox: a few threads do
            executors={"default": ThreadPoolExecutor(4)},
            # a daemon suspended across several firings runs each job once on waking
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- scheduling -------------------------------------------------------------------
    def _trigger(self, source: Source) -> Any:
        if source.cron:
            return CronTrigger.from_crontab(source.cron, timezone=self.config.timezone,
                                            jitter=int(_jitter(source)) or None)
        return IntervalTrigger(seconds=source.interval.total_seconds(),
                               jitter=int(_jitter(source)) or None,
                               timezone=self.config.timezone)

    def _first_run(self, source: Source, now: datetime) -> datetime | None:
        """Overdue sources (by their last run in the database) go first."""
        if source.cron:
            return None
        runs = self.store.runs(source.name, limit=1)
        if not runs:
            return now + timedelta(seconds=random.uniform(0, 1))
        due = runs[0]["started"] + source.interval
        return max(due, now + timedelta(seconds=random.uniform(0, 1)))

    def schedule(self) -> None:
        self.scheduler.remove_all_jobs()
        now = utcnow()
        for source in self.config.sources:
            kwargs: dict[str, Any] = {}
            first = self._first_run(source, now)
            if first is not None:
                kwargs["next_run_time"] = first
            self.scheduler.add_job(self.crawl, self._trigger(source), args=[source.name],
                                   id=f"crawl:{source.name}", name=source.name, **kwargs)
        self.scheduler.add_job(self.send, IntervalTrigger(
            seconds=self.config.daemon.send_every.total_seconds()), id="send", name="send")
        # the store's daily clean-up, in small batches while polls go on (a standby
        # scheduler leaves it to the leader)
        self.scheduler.add_job(self.prune, CronTrigger(hour=3, minute=30, jitter=600,
                                                       timezone=self.config.timezone),
                               id="prune", name="prune", coalesce=True,
                               misfire_grace_time=3600)
        log.info("scheduled %d source(s); sending every %s", len(self.config.sources),
                 self.config.daemon.send_every)

    # -- jobs -------------------------------------------------------------------------
    def crawl(self, name: str) -> None:
        """A source is due: queue its poll (the queue keeps due order and the limit)."""
        if not self.stop.is_set():
            self.queue.submit(PollOrder(name, time.time()))

    def prune(self) -> None:
        if self.stop.is_set() or not self.queue.leading:
            return
        try:
            done = retention.prune(self.store, self.config.retention, utcnow(),
                                   stopped=self.stop.is_set)
        except Exception as exc:  # tomorrow again; never the end of the daemon
            self.outcomes.troubles.report("prune", f"pruning failed: {why(exc)}")
            return
        for kind in ("articles", "matches", "forgotten", "runs", "emails"):
            self.metrics.pruned.labels(kind).inc(getattr(done, kind))
        log.info("pruned: %d article(s) lost their text and %d match(es), %d forgotten, "
                 "%d run(s), %d email(s)", done.articles, done.matches, done.forgotten,
                 done.runs, done.emails)

    def send(self) -> None:
        if self.stop.is_set() or not self.queue.leading:
            return
        try:
            made = outbox.compose(self.store, self.config)
            began = utcnow()
            report = deliver(self.store, self.config.alerts)
            if report.sent:
                self.metrics.delays(alert_delays(self.store, began))
        except OperationalError as exc:  # the database is away: one line, no traceback
            self.outcomes.troubles.report(
                "send", f"sending waits: the database cannot be reached: {why(exc)}")
            return
        except Exception as exc:  # a failed job is never silent, nor repeated every 10 s
            self.outcomes.troubles.report("send", f"sending failed: {type(exc).__name__}: "
                                                  f"{exc}", trace=True)
            return
        if report.errors:
            self.outcomes.troubles.report(
                "send", f"messages not sent: {report.errors[-1]} ({report.retry} to retry with "
                        f"backoff, {report.failed} failed for good; `newswatch status` lists "
                        "them)")
        elif report.sent:
            self.outcomes.troubles.cleared("send", "sending works again: "
                                                   f"{kinds(report.sent_to)} sent")
        if made or report.sent or report.retry or report.failed:
            log.info("outbox: %d composed, %d sent, %d to retry, %d failed", len(made),
                     report.sent, report.retry, report.failed)

    # -- life cycle -------------------------------------------------------------------
    def _reload(self) -> None:
        self.reload.clear()
        try:
            text = self.config_path.read_text(encoding="utf-8")
            config = load_config(self.config_path)
        except (ConfigError, OSError) as exc:
            log.error("SIGHUP: the new config is invalid; keeping the old one:\n%s", exc)
            return
        self.config = config
        self.outcomes.config = config
        write_private(self.snapshot, text)
        if self.acting:
            self.schedule()
        self.queue.reload(config)
        log.info("SIGHUP: config reloaded from %s", self.config_path)

    def _lead(self, leading: bool) -> None:
        """Schedule while this daemon leads; stand by (nothing scheduled) otherwise."""
        if leading and not self.acting:
            self.schedule()
            self.scheduler.resume()
        elif not leading and self.acting:
            self.scheduler.pause()
            self.scheduler.remove_all_jobs()
        self.acting = leading

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload.set()
        else:
            self.stop.set()

    def run(self) -> int:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job is noise
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.queue.start()
        if self.config.metrics.listen:
            serve(self.config.metrics.listen, self.metrics.registry,
                  lambda: not self.stop.is_set())
        self.scheduler.start(paused=True)
        log.info("newswatch daemon running (pid %d); SIGHUP reloads, SIGTERM stops",
                 os.getpid())
        while True:
            if self.reload.is_set():
                self._reload()
            self.queue.tick()
            self._lead(self.queue.leading)
            if self.stop.wait(0.5):
                break
        log.info("stopping: no new polls; the running ones get %g s to finish", STOP_GRACE)
        self.scheduler.pause()
        self.queue.stop(STOP_GRACE)
        self.scheduler.shutdown(wait=True)
        self.store.close()
        self.snapshot.unlink(missing_ok=True)
        log.info("stopped")
        return EXIT_OK


def run_daemon(config_path: Path) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        exc.report(sys.stderr)
        return EXIT_USAGE
    if config.queue is not None:  # several may run: the lease decides which one acts
        return Daemon(config_path, config).run()
    path = lock_path(config, config_path)
    handle = acquire_lock(path)
    if handle is None:
        holder = path.read_text().strip() if path.exists() else "?"
        print(f"newswatch: another daemon (pid {holder}) is already running on "
              f"{mask_url(config.database)}; stop it first (lock: {path})", file=sys.stderr)
        return EXIT_FAILED
    try:
        return Daemon(config_path, config).run()
    finally:
        handle.close()
