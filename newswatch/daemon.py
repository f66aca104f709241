"""`newswatch run`: the daemon. APScheduler (3.x) in this process fires each source on
its own schedule; every crawl runs as its own `newswatch crawl` subprocess, in its own
process group, with a time limit (the whole group is killed) and a memory limit, because
Scrapy's reactor cannot be restarted and long-lived crawler runners leak. The outbox
sender and the digests run here on their own clock. One daemon per database."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import random
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import update
from sqlalchemy.engine import make_url

from alerts import health, outbox
from alerts.deliver import deliver
from config.loader import ConfigError, load_config
from config.models import Config, Source
from store import schema
from store.db import Store, utcnow

log = logging.getLogger(__name__)

EXIT_OK, EXIT_REFUSED, EXIT_CONFIG = 0, 1, 2
STOP_GRACE = 20.0  # seconds a crawl gets to finish after SIGTERM before it is killed


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
        self.snapshot.write_text(config_path.read_text(encoding="utf-8"), encoding="utf-8")
        self.store = Store(config.database)
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=config.timezone,
            executors={"default": ThreadPoolExecutor(max(4, len(config.sources) + 2))},
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
        log.info("scheduled %d source(s); sending every %s", len(self.config.sources),
                 self.config.daemon.send_every)

    # -- jobs -------------------------------------------------------------------------
    def crawl(self, name: str) -> None:
        if self.stop.is_set():
            return
        limits = self.config.daemon
        env = {**os.environ, "NEWSWATCH_MEMORY_LIMIT": str(limits.memory_limit)}
        cmd = [sys.executable, "-m", "newswatch.cli", "crawl", "--daemon-child",
               "--source", name, "-c", str(self.snapshot)]
        started = utcnow()
        with self.lock:
            if self.stop.is_set():
                return
            child = subprocess.Popen(cmd, env=env, start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            self.children[name] = child
        log.info("[%s] crawl started (pid %d)", name, child.pid)
        try:
            code = child.wait(timeout=limits.time_limit.total_seconds())
        except subprocess.TimeoutExpired:
            self._kill(child)
            code = None
            self._close_runs(name, f"killed at the time limit ({limits.time_limit})")
        finally:
            with self.lock:
                self.children.pop(name, None)
        if code is not None and code < 0:
            self._close_runs(name, f"crawl process died (signal {-code})")
        self._log_run(name, started, code)

    def _kill(self, child: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()

    def _close_runs(self, name: str, message: str, status: str = "failed") -> None:
        """A killed crawl could not record its end: mark its run."""
        r = schema.runs
        with self.store.tx() as conn:
            conn.execute(update(r).where(r.c.source == name, r.c.status == "running")
                         .values(status=status, finished=utcnow(), message=message))
        for change in health.check(self.store, self.config, [name]):
            log.warning("[%s] now %s: %s", name, change.state, change.reason)

    def _log_run(self, name: str, started: datetime, code: int | None) -> None:
        runs = [r for r in self.store.runs(name, limit=1) if r["started"] >= started]
        if not runs:
            log.error("[%s] crawl ended (exit %s) without recording a run", name, code)
            return
        r = runs[0]
        line = (f"[{name}] run {r['status']}: pages {r['pages']}, new {r['new_articles']}, "
                f"no text {r['no_text']}, matches {r['matches']}, errors {r['errors']}, "
                f"{(r['duration'] or 0):.1f} s")
        (log.warning if r["status"] != "ok" else log.info)(
            line + (f" ({r['message']})" if r["message"] else ""))

    def send(self) -> None:
        if self.stop.is_set():
            return
        try:
            made = outbox.compose(self.store, self.config)
            report = deliver(self.store, self.config.alerts)
        except Exception:  # a failed job is never silent
            log.exception("sending failed")
            return
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
        self.snapshot.write_text(text, encoding="utf-8")
        self.schedule()
        log.info("SIGHUP: config reloaded from %s", self.config_path)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload.set()
        else:
            self.stop.set()

    def run(self) -> int:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job is noise
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.schedule()
        self.scheduler.start()
        log.info("newswatch daemon running (pid %d); SIGHUP reloads, SIGTERM stops",
                 os.getpid())
        while not self.stop.wait(0.5):
            if self.reload.is_set():
                self._reload()
        log.info("stopping: no new crawls; asking running ones to finish")
        self.scheduler.pause()
        with self.lock:
            running = list(self.children.items())
        for _, child in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = utcnow() + timedelta(seconds=STOP_GRACE)
        for name, child in running:
            left = max(0.0, (deadline - utcnow()).total_seconds())
            try:
                child.wait(timeout=left)
            except subprocess.TimeoutExpired:
                log.warning("[%s] crawl did not stop in time; killed", name)
                self._kill(child)
            self._close_runs(name, "stopped with the daemon", "cancelled")
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
        return EXIT_CONFIG
    path = lock_path(config, config_path)
    handle = acquire_lock(path)
    if handle is None:
        holder = path.read_text().strip() if path.exists() else "?"
        print(f"newswatch: another daemon (pid {holder}) is already running on "
              f"{config.database}; stop it first (lock: {path})", file=sys.stderr)
        return EXIT_REFUSED
    try:
        return Daemon(config_path, config).run()
    finally:
        handle.close()
