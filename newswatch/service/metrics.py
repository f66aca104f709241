"""Prometheus metrics (SPEC §13), every series named `newswatch_*` with bounded labels
(no URL or article ever becomes a label).

- `StoreCollector`: gathered from the database when scraped, for `newswatch web`'s
  `/metrics`: sources by health, runs by outcome over the last hour, how late the
  sources' polls are, the outbox by state and kind, and each source's age of its last
  good poll (one series per configured source).
- `Process`: the in-process counters and histograms of `newswatch run` and `newswatch
  worker`, served with `/healthz` on `metrics.listen`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from newswatch.config.models import Config
from newswatch.spiders.poll import PollOutcome
from newswatch.store import schema
from newswatch.store.db import Store, utcnow

log = logging.getLogger(__name__)

OUTCOMES = ("ok", "partial", "failed", "cancelled", "running")
HEALTH = ("healthy", "failing", "never_polled")


def _kind() -> Any:
    """emails.recipient is an address, or a channel's apprise URL."""
    return case((schema.emails.c.recipient.like("%://%"), "channel"), else_="email")


class StoreCollector(Collector):
    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config

    def collect(self) -> Iterator[GaugeMetricFamily]:
        r, h, e, o = schema.runs, schema.source_health, schema.emails, schema.outbox
        now = utcnow()
        names = [s.name for s in self.config.sources]
        with self.store.reader.connect() as conn:
            health = dict(conn.execute(select(h.c.source, h.c.state)).all())
            last = dict(conn.execute(select(r.c.source, func.max(r.c.started))
                                     .group_by(r.c.source)).all())
            good = dict(conn.execute(select(r.c.source, func.max(r.c.finished))
                                     .where(r.c.status == "ok").group_by(r.c.source)).all())
            hour: dict[str, int] = dict(conn.execute(select(r.c.status, func.count())
                                     .where(r.c.started >= now - timedelta(hours=1))
                                     .group_by(r.c.status)).all())
            outbox = conn.execute(select(e.c.status, _kind(), func.count())
                                  .group_by(e.c.status, _kind())).all()
            waiting = conn.execute(select(func.count()).select_from(o)
                                   .where(o.c.email_id.is_(None))).scalar_one()
        by_health = dict.fromkeys(HEALTH, 0)
        for name in names:
            state = health.get(name, "healthy") if name in last else "never_polled"
            by_health[state] += 1
        sources = GaugeMetricFamily("newswatch_sources", "Configured sources by health",
                                    labels=["health"])
        for state, n in by_health.items():
            sources.add_metric([state], n)
        yield sources
        runs = GaugeMetricFamily("newswatch_runs_last_hour",
                                 "Polls started in the last hour, by outcome",
                                 labels=["outcome"])
        for outcome in sorted({*OUTCOMES, *hour}):
            runs.add_metric([outcome], hour.get(outcome, 0))
        yield runs
        late = GaugeMetricFamily(
            "newswatch_poll_lateness_seconds",
            "Per source, how long past its interval its last poll started (0: on time); "
            "the worst source and the number of sources over one interval late",
            labels=["stat"])
        lateness = [(max(0.0, (now - last[s.name] - s.interval).total_seconds()),
                     s.interval.total_seconds())
                    for s in self.config.sources if last.get(s.name) is not None]
        late.add_metric(["max"], max((x for x, _ in lateness), default=0.0))
        late.add_metric(["sources_late"], sum(1 for x, every in lateness if x > every))
        yield late
        box = GaugeMetricFamily("newswatch_outbox", "Outbox messages by state and kind",
                                labels=["state", "kind"])
        counted = {(str(state), str(kind)): int(n) for state, kind, n in outbox}
        for state in ("pending", "sending", "sent", "failed"):
            for kind in ("email", "channel"):
                box.add_metric([state, kind], counted.get((state, kind), 0))
        yield box
        yield GaugeMetricFamily("newswatch_outbox_alerts_unsent",
                                "Alerts waiting for their digest (or a disabled watch)",
                                value=int(waiting))
        age = GaugeMetricFamily("newswatch_source_last_good_poll_age_seconds",
                                "Seconds since each source's last good poll ended "
                                "(absent: never)", labels=["source"])
        for name in names:
            if good.get(name) is not None:
                age.add_metric([name], (now - good[name]).total_seconds())
        yield age


class Process:
    """The counters of one running `newswatch run` or `newswatch worker`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.polls = Counter("newswatch_polls", "Polls ended, by outcome", ["outcome"],
                             registry=reg)
        self.pages = Counter("newswatch_pages", "Article pages fetched", registry=reg)
        self.articles = Counter("newswatch_articles_new", "New articles stored", registry=reg)
        self.extraction = Counter("newswatch_extraction_seconds",
                                  "Time spent extracting article pages", registry=reg)
        self.poll_seconds = Histogram("newswatch_poll_duration_seconds",
                                      "How long a poll took", registry=reg,
                                      buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800))
        self.alert_delay = Histogram(
            "newswatch_alert_delay_seconds", "From an article's publication (else its first "
            "sight) to its alert's delivery", registry=reg,
            buckets=(30, 60, 120, 180, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600))
        self.pruned = Counter("newswatch_pruned_rows", "Rows retention removed, by kind",
                              ["kind"], registry=reg)
        self.alive = time.monotonic()

    def outcome(self, outcome: PollOutcome) -> None:
        c = outcome.counts
        self.polls.labels(outcome.status).inc()
        self.pages.inc(c.get("pages", 0))
        self.articles.inc(c.get("new_articles", 0))
        self.extraction.inc(c.get("extract_ms", 0) / 1000)
        if outcome.duration is not None:
            self.poll_seconds.observe(outcome.duration)

    def delays(self, seconds: Iterable[float]) -> None:
        for s in seconds:
            self.alert_delay.observe(max(0.0, s))


def alert_delays(store: Store, since: datetime) -> list[float]:
    """Seconds from publication (its exact time, else the article's first sight) to
    delivery, for each alert in the emails sent since `since`."""
    e, o, m, a = schema.emails, schema.outbox, schema.matches, schema.articles
    with store.reader.connect() as conn:
        rows = conn.execute(
            select(e.c.sent, a.c.published, a.c.published_precision, a.c.first_seen)
            .select_from(e).join(o, o.c.email_id == e.c.id).join(m, m.c.id == o.c.match_id)
            .join(a, a.c.id == m.c.article_id)
            .where(e.c.status == "sent", e.c.sent >= since)).all()
    return [(sent - (published if precision == "time" and published else seen)
             ).total_seconds() for sent, published, precision, seen in rows]


class QueueCollector(Collector):
    """The one-machine queue's depth and its worker restarts, read when scraped."""

    def __init__(self, queue: Any):
        self.queue = queue

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily("newswatch_queue_depth", "Polls due and waiting for the "
                                "crawl worker", value=len(self.queue.waiting))
        yield CounterMetricFamily("newswatch_worker_restarts", "Crawl workers that died "
                                  "and were replaced", value=self.queue.restarts)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


def serve(listen: str, registry: CollectorRegistry,
          healthy: Callable[[], bool]) -> WSGIServer:
    """`/metrics` and `/healthz` (200 while `healthy()`, else 503) on host:port, in a
    thread of its own."""
    host, _, port = listen.rpartition(":")
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok = healthy()
            start("200 OK" if ok else "503 Service Unavailable",
                  [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"not working\n"]
        return metrics(environ, start)

    server = make_server(host.strip("[]") or "127.0.0.1", int(port), app,
                         handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s/metrics", listen)
    return server
