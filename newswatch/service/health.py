"""Source health (SPEC §9): after each run, a source is healthy or failing; when that
changes (healthy -> failing after FAILING_AFTER bad runs in a row (failed, or partial:
one of its feeds, sitemaps or pages could not be read), or at once when a run
fetches article pages and extracts no text from any; failing -> recovered), one email
goes to alerts.ops through the outbox's emails. No repeats while the state holds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from sqlalchemy import Connection, insert, select, update

from newswatch.alerts.outbox import queue_email
from newswatch.alerts.render import Renderer, one_line
from newswatch.config.models import Config
from newswatch.store import schema
from newswatch.store.db import SOURCE_LOCKS, Store, lock_names, utcnow
from newswatch.store.sources import health_states, latest_runs, runs_of

log = logging.getLogger(__name__)

FAILING_AFTER = 3
EMPTY_MIN_PAGES = 2  # one page without text is a video or a gallery, not a broken site
NO_TEXT = "none had article text"


@dataclass(frozen=True)
class Change:
    source: str
    state: str  # failing | healthy
    reason: str
    runs: list[dict[str, Any]]


def problem(run: dict[str, Any]) -> str | None:
    """What was wrong with one run, or None for a good run."""
    if run["status"] == "failed":
        return one_line(run.get("message")) or "no feed, sitemap or listing page could be read"
    if run["status"] == "partial":  # a dead feed among live ones still needs a person
        return (one_line(run.get("message"))
                or "some of its feeds, sitemaps or listing pages could not be read")
    pages = int(run.get("pages") or 0)
    if pages >= EMPTY_MIN_PAGES and _texts(run) <= 0:
        return (f"{pages} article pages fetched and {NO_TEXT} (a new layout, a paywall or a "
                "block page?)")
    return None


def _texts(run: dict[str, Any]) -> int:
    return int(run.get("pages") or 0) - int(run.get("no_text") or 0)


def bad_streak(runs: list[dict[str, Any]]) -> int:
    """How many of the newest finished runs (newest first) in a row had a problem; runs
    in progress or stopped on purpose are passed over."""
    streak = 0
    for run in runs:
        if run["status"] in ("running", "cancelled"):
            continue
        if problem(run) is None:
            break
        streak += 1
    return streak


def assess(runs: list[dict[str, Any]], state: str,
           reason: str | None = None) -> tuple[str, str] | None:
    """The new (state, reason) after the newest run (runs newest first), if it changes.
    Runs stopped on purpose (cancelled) say nothing about the source."""
    if not runs or runs[0]["status"] in ("running", "cancelled"):
        return None
    runs = [r for r in runs if r["status"] != "cancelled"]
    latest = problem(runs[0])
    if state != "failing":
        if latest is not None and NO_TEXT in latest:
            return "failing", latest
        if bad_streak(runs) >= FAILING_AFTER:
            return "failing", f"{FAILING_AFTER} bad runs in a row; the last: {latest}"
        return None
    if latest is None:
        if reason and NO_TEXT in reason and _texts(runs[0]) <= 0:
            return None  # nothing new to read yet: no evidence the pages have text again
        return "healthy", "the last run was good"
    return None


def check(store: Store, config: Config, sources: list[str],
          now: datetime | None = None) -> list[Change]:
    """Assess each source after its run and queue one ops email per change."""
    now = now or utcnow()
    h = schema.source_health
    changes: list[Change] = []
    for source in _may_change(store, sources):
        # newest first by the index on (source, started): a seek, where ordering by
        # id sorted every run the source has (bench/year.py)
        runs = runs_of(store, source, FAILING_AFTER + 2)
        with store.tx() as conn:
            # two workers assessing one source at once: the second sees the first's verdict
            lock_names(conn, SOURCE_LOCKS, [source])
            row = conn.execute(select(h.c.state, h.c.reason)
                               .where(h.c.source == source)).first()
            state = row.state if row else "healthy"
            verdict = assess(runs, state, row.reason if row else None)
            if verdict is None:
                continue
            new_state, reason = verdict
            if row is None:
                conn.execute(insert(h).values(source=source, state=new_state, reason=reason,
                                              since=now))
            else:
                conn.execute(update(h).where(h.c.source == source).values(
                    state=new_state, reason=reason, since=now))
            change = Change(source, new_state, reason, runs)
            _queue(conn, config, change, now)
        changes.append(change)
        log.warning("source %s is now %s: %s", source, new_state, reason)
    return changes


def _may_change(store: Store, sources: list[str]) -> list[str]:
    """The sources whose state the newest run may change, each assessed in a transaction
    of its own; the others are told from two queries for all (a crawl of thousands of
    unchanged feeds paid a transaction per source). A source that is not failing changes
    only if its newest run has a problem (assess), so one whose newest run was good, is
    running or was cancelled is left out; a failing source is always assessed."""
    newest = latest_runs(store, sources)
    states = health_states(store)
    out = []
    for source in sources:
        run, row = newest.get(source), states.get(source)
        if (row is None or row.state != "failing") and (
                run is None or run["status"] in ("running", "cancelled")
                or problem(run) is None):
            continue
        out.append(source)
    return out


def _queue(conn: Connection, config: Config, change: Change, now: datetime) -> None:
    renderer = Renderer(config.alerts.templates, config.timezone)
    for recipient in config.ops_recipients:
        message_id = make_msgid("newswatch-health", config.alerts.msgid_domain)
        msg = renderer.health_message(change.source, change.state, change.reason, change.runs,
                                      sender=config.alerts.from_, recipient=recipient,
                                      message_id=message_id, now=now)
        queue_email(conn, recipient, "health", msg, now)


def states(store: Store) -> dict[str, tuple[str, str | None]]:
    h = schema.source_health
    with store.reader.connect() as conn:
        return {r.source: (r.state, r.reason)
                for r in conn.execute(select(h.c.source, h.c.state, h.c.reason))}
