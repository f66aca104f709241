"""What becomes of a poll's outcome wherever it ends (the daemon with its own worker, or a
worker taking polls from the shared queue): one log line for the run, a failed or
cancelled run closed with why, and the source's health assessed. Problems here are
logged once per change, never silently dropped and never the end of the process."""

from __future__ import annotations

import logging

from sqlalchemy import update

from newswatch.config.models import Config
from newswatch.service import health
from newswatch.service.metrics import Process
from newswatch.spiders.poll import PollOrder, PollOutcome
from newswatch.store import schema
from newswatch.store.db import Store, utcnow

log = logging.getLogger(__name__)



class Troubles:
    """Logs a problem when it is new or has changed, not at every attempt."""

    def __init__(self, logger: logging.Logger = log):
        self.last: dict[str, str] = {}
        self.logger = logger

    def report(self, kind: str, message: str, trace: bool = False) -> None:
        if self.last.get(kind) != message:
            self.logger.error("%s (logged again when it changes)", message, exc_info=trace)
            self.last[kind] = message
        else:
            self.logger.debug("%s", message)

    def outage(self, kind: str, message: str) -> None:
        """A service that cannot be reached: said once until `cleared`, whatever the
        driver's words for it on later tries (a database going down says 'shutting down',
        then 'connection refused': one outage, one line)."""
        if kind not in self.last:
            self.logger.error("%s (said again only after it answers)", message)
            self.last[kind] = message
        else:
            self.logger.debug("%s", message)

    def cleared(self, kind: str, message: str) -> None:
        """The problem of this kind is over: say so once."""
        if self.last.pop(kind, None) is not None:
            self.logger.warning("%s", message)


class Outcomes:
    def __init__(self, store: Store, config: Config, troubles: Troubles | None = None,
                 metrics: Process | None = None):
        self.store = store
        self.config = config
        self.troubles = troubles or Troubles()
        self.metrics = metrics

    def outcome(self, outcome: PollOutcome, where: str = "") -> None:
        c = outcome.counts
        line = (f"[{outcome.source}] run {outcome.status}: pages {c.get('pages', 0)}, new "
                f"{c.get('new_articles', 0)}, no text {c.get('no_text', 0)}, matches "
                f"{c.get('matches', 0)}, errors {c.get('errors', 0)}")
        if outcome.duration is not None:
            line += f", {outcome.duration:.1f} s"
        line += where
        if self.metrics is not None:
            self.metrics.outcome(outcome)
        (log.warning if outcome.status != "ok" else log.info)(
            line + (f" ({outcome.message})" if outcome.message else ""))
        self.health(outcome.source)

    def lost(self, order: PollOrder, run_id: int | None, message: str, status: str) -> None:
        """A poll ended with its worker (died, or stopped): its run says why, and counts
        for the source's health unless it was stopped on purpose."""
        r = schema.runs
        # without its id, its run is the source's running one (polled once at a time)
        where = [r.c.id == run_id] if run_id is not None else [r.c.source == order.source]
        try:
            with self.store.tx() as conn:
                conn.execute(update(r).where(*where, r.c.status == "running")
                             .values(status=status, finished=utcnow(), message=message))
        except Exception as exc:
            self.troubles.report("database", f"the run of {order.source} could not be "
                                             f"closed ({message}): {exc}")
        (log.info if status == "cancelled" else log.warning)(
            "[%s] run %s: %s", order.source, status, message)
        if status != "cancelled":
            self.health(order.source)

    def health(self, name: str) -> None:
        try:
            for change in health.check(self.store, self.config, [name]):
                log.warning("[%s] now %s: %s", name, change.state, change.reason)
        except Exception as exc:  # never silent, never the end of the process
            self.troubles.report("health", f"source health could not be assessed: {exc}")
