"""`newswatch run`: the daemon. APScheduler (3.x) in this process fires each source on
its own schedule and hands the due poll to the queue: without `queue:` the local one
(newswatch.service.local.queue), which runs it in this daemon's long-lived crawl worker and reports
each outcome here; with `queue:` the shared one (newswatch.service.cluster.queue), whose workers
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
from newswatch.config.pacing import Pace
from newswatch.config.private import mask_url, write_private
from newswatch.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from newswatch.service.local.queue import LocalQueue
from newswatch.service.metrics import Process, QueueCollector, alert_delays, serve
from newswatch.service.outcomes import Outcomes
from newswatch.service.polls import STOP_GRACE, PollQueue
from newswatch.spiders.poll import PollOrder
from newswatch.store import retention, schedules
from newswatch.store.db import Store, utcnow
from newswatch.store.errors import why
from newswatch.store.sources import latest_runs

log = logging.getLogger(__name__)

FOLLOW_EVERY = 2.0  # seconds between reads of the schedules polls wrote
FOLLOW_MARGIN = timedelta(seconds=10)


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


def _held(source: Source, pace: Pace | None) -> datetime | None:
    """Until when a stored schedule holds a source back: its next poll when adaptive or
    when its site asked; a fixed schedule keeps its clock (None)."""
    if pace is None or pace.next_poll is None:
        return None
    if pace.asked:
        return pace.next_poll
    if not source.adaptive:
        return None
    # every_max may have been shortened since the pace was decided
    if pace.last_poll is not None:
        return min(pace.next_poll, pace.last_poll + source.slowest)
    return pace.next_poll


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
        self.paces: dict[str, Pace] = {}  # each source's stored schedule
        self.sources = {s.name: s for s in config.sources}
        self.paces_seen: datetime | None = None  # the newest write read
        self.next_follow = 0.0
        self.queue: PollQueue
        if config.queue is not None:
            from newswatch.service.cluster.queue import ClusterQueue

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

    def _first_run(self, source: Source, now: datetime,
                   started: dict[str, datetime]) -> datetime | None:
        """When its stored schedule says (adaptive, or its site asked); else overdue
        sources (by their last run's start in the database, `started`) go first."""
        if source.cron:
            return None
        soon = now + timedelta(seconds=random.uniform(0, 1))
        held = _held(source, self.paces.get(source.name))
        if held is not None:
            return max(held, soon)
        last = started.get(source.name)
        if last is None:
            return soon
        return max(last + source.interval, soon)

    def _last_started(self) -> dict[str, datetime]:
        """When the last run of each source that its stored schedule does not hold
        started: a few queries for all of them (one each was seconds at 10,000)."""
        names = [s.name for s in self.config.sources
                 if not s.cron and _held(s, self.paces.get(s.name)) is None]
        return {name: run["started"] for name, run in latest_runs(self.store, names).items()}

    def schedule(self) -> None:
        self.scheduler.remove_all_jobs()
        now = utcnow()
        try:
            self._read_paces(None)
        except Exception as exc:  # polled on their `every` until the store answers
            self.outcomes.troubles.report("schedules", "the sources' schedules cannot be "
                                                       f"read: {why(exc)}")
        held = 0
        started = self._last_started()
        for source in self.config.sources:
            kwargs: dict[str, Any] = {}
            first = self._first_run(source, now, started)
            if first is not None:
                kwargs["next_run_time"] = first
            wait = _held(source, self.paces.get(source.name))
            held += wait is not None and wait > now
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
        log.info("scheduled %d source(s) (%d waiting for the next poll their stored "
                 "schedule gives); sending every %s", len(self.config.sources), held,
                 self.config.daemon.send_every)

    # -- adaptive schedules (newswatch.config.pacing) ----------------------------------------
    def _read_paces(self, since: datetime | None) -> list[str]:
        """The schedules written since `since` (all for None) into self.paces; the
        sources whose next poll changed."""
        moved = []
        for name, pace, updated in schedules.changed(self.store, since):
            old = self.paces.get(name)
            self.paces[name] = pace
            self.paces_seen = max(self.paces_seen or updated, updated)
            if old is None or old.next_poll != pace.next_poll:
                moved.append(name)
        return moved

    def _follow(self) -> None:
        """Each poll's end writes its source's next poll to the store (whichever worker
        polled): its job fires then. Read every couple of seconds, with a margin for
        writes that committed late or come from a machine whose clock is behind."""
        now = time.monotonic()
        if now < self.next_follow:
            return
        self.next_follow = now + FOLLOW_EVERY
        since = self.paces_seen - FOLLOW_MARGIN if self.paces_seen else None
        try:
            moved = self._read_paces(since)
        except Exception as exc:  # the fixed `every` goes on meanwhile
            self.outcomes.troubles.report("schedules", "the sources' schedules cannot be "
                                                       f"read: {why(exc)}")
            return
        self.outcomes.troubles.cleared("schedules", "the sources' schedules are read again")
        soon = utcnow() + timedelta(seconds=1)
        for name in moved:
            source = self.sources.get(name)
            held = _held(source, self.paces[name]) if source is not None else None
            job = self.scheduler.get_job(f"crawl:{name}")
            if job is None or held is None or source is None or source.cron:
                continue  # a fixed schedule keeps its clock; a cron its own
            # up to the source's jitter later (never sooner): sources whose polls ended
            # together do not all fire together again
            later = timedelta(seconds=random.uniform(0, _jitter(source)))
            job.modify(next_run_time=max(held, soon) + later)

    # -- jobs -------------------------------------------------------------------------
    def crawl(self, name: str) -> None:
        """A source is due: queue its poll (the queue keeps due order and the limit),
        unless its schedule says not yet (it publishes rarely, or its site asked)."""
        if self.stop.is_set():
            return
        source = self.sources.get(name)
        if source is not None:
            pace = self.paces.get(name)
            held = _held(source, pace)
            if source.adaptive and (held is None or held <= utcnow()):
                try:  # the store's word: the poll that just ended may not be read yet
                    held = _held(source, schedules.load(self.store, name))
                except Exception as exc:  # as last read; the queue coalesces a repeat
                    log.debug("[%s] schedule not read: %s", name, why(exc))
            if held is not None and held > utcnow():
                log.debug("[%s] not polled before %s", name, held)
                return
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
        try:  # a shared queue's finished and failed jobs (nothing on one machine)
            jobs = self.queue.remove_old_jobs(self.config.retention.runs)
        except Exception as exc:
            self.outcomes.troubles.report("prune", f"old jobs cannot be removed from the "
                                                   f"queue: {why(exc)}")
            return
        if jobs:
            self.metrics.pruned.labels("jobs").inc(jobs)
            log.info("pruned: %d finished or failed job(s) from the queue", jobs)

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
        self.sources = {s.name: s for s in config.sources}
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
            if self.acting:
                self._follow()
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
        from newswatch.service.cluster import database

        database.check_schema(config.queue)  # set up and upgraded by `newswatch migrate`
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
