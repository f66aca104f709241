"""Retention (SPEC §13): what the store keeps is bounded. Pruning works in small
batches, each its own short transaction with a pause after it, so that crawls and the
sender, which write too, never wait long for the database.

- An article first seen before `retention.articles` loses its text and its matches
  (their outbox rows with them); its row stays, with its URL keys and fingerprint, so a
  feed that still lists it never makes it fetched or alerted again.
- Such a pruned article is forgotten whole once first seen before `retention.urls`.
- Runs started before `retention.runs` are deleted, but each source keeps its newest
  KEEP_RUNS, which its health and `status` read.
- Sent and failed emails older than `retention.alerts` are deleted, with their outbox
  rows (their matches stay, so nothing is queued again)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select, update

from newswatch.config.models import Retention
from newswatch.config.units import format_duration
from newswatch.store import schema
from newswatch.store.db import Store
from newswatch.store.sources import polled

log = logging.getLogger(__name__)

BATCH = 500
RUN_BATCH = 2000  # runs are small rows: a batch of them is as quick to delete
PAUSE = 0.05  # seconds between batches: a waiting writer gets the database
KEEP_RUNS = 20


@dataclass
class Pruned:
    articles: int = 0  # lost their text and matches
    matches: int = 0
    forgotten: int = 0  # pruned articles deleted whole (retention.urls)
    runs: int = 0
    emails: int = 0

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


class Pruner:
    def __init__(self, store: Store, retention: Retention, now: datetime,
                 dry_run: bool = False, batch: int = BATCH, pause: float = PAUSE,
                 stopped: Callable[[], bool] = lambda: False):
        self.store = store
        self.retention = retention
        self.now = now
        self.dry_run = dry_run
        self.batch = batch
        self.pause = pause
        self.stopped = stopped  # the daemon stopping: leave the rest for next time
        self.done = Pruned()

    def run(self) -> Pruned:
        r = self.retention
        if r.articles is not None:
            self._articles(self.now - r.articles)
            if r.urls is not None:
                self._forget(self.now - max(r.urls, r.articles))
        if r.runs is not None:
            self._runs(self.now - r.runs)
        if r.alerts is not None:
            self._emails(self.now - r.alerts)
        return self.done

    # -- the batches --------------------------------------------------------------------
    def _ids(self, query: Select[Any]) -> Iterator[list[int]]:
        """Ids in batches, lowest first; each batch read after the last was pruned."""
        last = 0
        while not self.stopped():
            id_col = query.selected_columns[0]
            with self.store.reader.connect() as conn:
                ids: list[int] = list(conn.execute(
                    query.where(id_col > last).order_by(id_col).limit(self.batch)).scalars())
            if not ids:
                return
            yield ids
            last = ids[-1]
            if not self.dry_run:
                time.sleep(self.pause)

    def _articles(self, before: datetime) -> None:
        a, m, o = schema.articles, schema.matches, schema.outbox
        old = select(a.c.id).where(a.c.first_seen < before, a.c.pruned.is_(None))
        for ids in self._ids(old):
            with self.store.reader.connect() as conn:
                match_ids = list(conn.execute(select(m.c.id).where(
                    m.c.article_id.in_(ids))).scalars())
            self.done.articles += len(ids)
            self.done.matches += len(match_ids)
            if self.dry_run:
                continue
            with self.store.tx() as conn:
                if match_ids:
                    # a younger copy of the story stays, no longer pointing at it
                    conn.execute(update(m).where(m.c.duplicate_of.in_(match_ids))
                                 .values(duplicate_of=None))
                    conn.execute(delete(o).where(o.c.match_id.in_(match_ids)))
                    conn.execute(delete(m).where(m.c.id.in_(match_ids)))
                conn.execute(update(a).where(a.c.id.in_(ids))
                             .values(text=None, author=None, pruned=self.now))

    def _forget(self, before: datetime) -> None:
        a, aliases = schema.articles, schema.url_aliases
        gone = select(a.c.id).where(a.c.first_seen < before, a.c.pruned.is_not(None))
        if self.dry_run:  # articles not pruned yet would be by then
            gone = select(a.c.id).where(a.c.first_seen < before)
        for ids in self._ids(gone):
            self.done.forgotten += len(ids)
            if self.dry_run:
                continue
            with self.store.tx() as conn:
                conn.execute(delete(aliases).where(aliases.c.article_id.in_(ids)))
                conn.execute(delete(a).where(a.c.id.in_(ids)))

    def _runs(self, before: datetime) -> None:
        """Runs in id order (the order they started in), RUN_BATCH at a time across all
        sources, until a batch holds none started before `before`: a day of 2,000
        sources polled every 2 minutes is 1.44 million runs, too many for a batch and a
        pause per source. A source keeps its newest KEEP_RUNS whatever their age."""
        r = schema.runs
        kept = self._kept_from(before)
        last = 0
        while not self.stopped():
            with self.store.reader.connect() as conn:
                rows = conn.execute(select(r.c.id, r.c.source, r.c.started, r.c.status)
                                    .where(r.c.id > last).order_by(r.c.id)
                                    .limit(RUN_BATCH)).all()
            old = [row for row in rows if row.started < before]
            if not old:
                return
            last = rows[-1].id
            ids = [row.id for row in old if row.status != "running"
                   and not (row.source in kept and row.started >= kept[row.source])]
            self.done.runs += len(ids)
            if ids and not self.dry_run:
                with self.store.tx() as conn:
                    conn.execute(delete(r).where(r.c.id.in_(ids)))
                time.sleep(self.pause)

    def _kept_from(self, before: datetime) -> dict[str, datetime]:
        """The sources whose newest KEEP_RUNS runs reach back before `before` (seldom
        polled, or polled no more), with the start of the oldest of those: one index
        seek per source."""
        r = schema.runs
        kept: dict[str, datetime] = {}
        for source in polled(self.store):
            with self.store.reader.connect() as conn:
                floor = conn.execute(select(r.c.started).where(r.c.source == source)
                                     .order_by(r.c.started.desc()).offset(KEEP_RUNS - 1)
                                     .limit(1)).scalar()
            if floor is None:  # fewer than KEEP_RUNS: all stay
                kept[source] = datetime.min.replace(tzinfo=UTC)
            elif floor < before:
                kept[source] = floor
        return kept

    def _emails(self, before: datetime) -> None:
        e, o = schema.emails, schema.outbox
        old = select(e.c.id).where(e.c.status.in_(("sent", "failed")),
                                   func.coalesce(e.c.sent, e.c.created) < before)
        for ids in self._ids(old):
            self.done.emails += len(ids)
            if not self.dry_run:
                with self.store.tx() as conn:
                    conn.execute(delete(o).where(o.c.email_id.in_(ids)))
                    conn.execute(delete(e).where(e.c.id.in_(ids)))


def prune(store: Store, retention: Retention, now: datetime, dry_run: bool = False,
          stopped: Callable[[], bool] = lambda: False) -> Pruned:
    """Prune now (or, dry, count what would go)."""
    started = time.monotonic()
    done = Pruner(store, retention, now, dry_run, stopped=stopped).run()
    log.info("prune%s: %s in %.1f s", " (dry run)" if dry_run else "", done,
             time.monotonic() - started)
    return done


def window(value: timedelta | None) -> str:
    return "forever" if value is None else format_duration(value)
