"""Retention (SPEC §13): what the store keeps is bounded. Pruning works in batches, each
its own short transaction with a pause after it, so that crawls and the sender, which
write too, never wait long for the database: a batch's size follows how long the last
one took (TX_SECONDS), so a day of 2,000 sources' runs goes in a few hundred
transactions of a fraction of a second, not in one long one nor in thousands. Each
batch is found by an index over what is left to prune (ix_articles_kept_first_seen),
never by reading the rows already pruned or kept.

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
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, delete, func, select, tuple_, update

from newswatch.config.models import Retention
from newswatch.config.units import format_duration
from newswatch.store import schema
from newswatch.store.db import Store
from newswatch.store.sources import polled

log = logging.getLogger(__name__)

BATCH = 500  # the first batch's size; then as TX_SECONDS says
RUN_BATCH = 2000  # runs are small rows: a batch of them is as quick to delete
GROWTH = 50  # a batch grows to at most this many times its first size
TX_SECONDS = 0.25  # what a batch's transaction should take
# seconds between batches: longer than the longest sleep of SQLite's busy handler
# (100 ms), so that a writer waiting for the lock wakes inside the pause and gets it
PAUSE = 0.15
IN_LIST = 10_000  # ids in one statement's IN (...)
KEEP_RUNS = 20


class Pace:
    """A batch size that follows how long the last full batch's transaction took: it
    grows while batches are quick and shrinks when one is slow (the disk is busy, the
    rows are larger), between its first size and GROWTH times that."""

    def __init__(self, first: int):
        self.size = self.least = first
        self.most = first * GROWTH

    def took(self, seconds: float, rows: int) -> None:
        if rows < self.size:  # a short last batch says nothing of a full one
            return
        factor = min(2.0, max(0.5, TX_SECONDS / max(seconds, 1e-3)))
        self.size = int(min(self.most, max(self.least, self.size * factor)))


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), IN_LIST):
        yield ids[i:i + IN_LIST]


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
        self.batches, self.longest = 0, 0.0  # of the step under way

    def run(self) -> Pruned:
        r = self.retention
        if r.articles is not None:
            self._timed(self._articles, self.now - r.articles)
            if r.urls is not None:
                self._timed(self._forget, self.now - max(r.urls, r.articles))
        if r.runs is not None:
            self._timed(self._runs, self.now - r.runs)
        if r.alerts is not None:
            self._timed(self._emails, self.now - r.alerts)
        return self.done

    def _timed(self, step: Callable[[datetime], None], before: datetime) -> None:
        """A step, and at debug level how long it took, in how many transactions, and
        the longest of them (the longest another writer could have waited)."""
        began, self.batches, self.longest = time.perf_counter(), 0, 0.0
        step(before)
        log.debug("prune %s: %.1f s, %d batch(es), the longest %.2f s",
                  step.__name__.strip("_"), time.perf_counter() - began, self.batches,
                  self.longest)

    # -- the batches --------------------------------------------------------------------
    @contextmanager
    def _tx(self, pace: Pace, rows: int) -> Iterator[Connection]:
        """One batch's write transaction, timed for the next batch's size, then the
        pause that lets the other writers in."""
        began = time.perf_counter()
        with self.store.tx() as conn:
            yield conn
        took = time.perf_counter() - began
        pace.took(took, rows)
        self.batches += 1
        self.longest = max(self.longest, took)
        time.sleep(self.pause)

    def _ids(self, query: Select[Any], pace: Pace) -> Iterator[list[int]]:
        """Ids in batches, lowest first; each batch read after the last was pruned."""
        last = 0
        while not self.stopped():
            id_col = query.selected_columns[0]
            with self.store.reader.connect() as conn:
                ids: list[int] = list(conn.execute(
                    query.where(id_col > last).order_by(id_col).limit(pace.size)).scalars())
            if not ids:
                return
            yield ids
            last = ids[-1]

    def _oldest(self, query: Select[Any], pace: Pace) -> Iterator[list[int]]:
        """The ids of articles, oldest first (by first_seen, then id), in batches: an
        index range over first_seen, each batch read after the last was pruned."""
        a = schema.articles
        after: tuple[datetime, int] | None = None
        while not self.stopped():
            q = query if after is None else query.where(
                tuple_(a.c.first_seen, a.c.id) > tuple_(*after))
            with self.store.reader.connect() as conn:
                rows = conn.execute(q.order_by(a.c.first_seen, a.c.id)
                                    .limit(pace.size)).all()
            if not rows:
                return
            yield [row.id for row in rows]
            after = (rows[-1].first_seen, rows[-1].id)

    def _articles(self, before: datetime) -> None:
        a, m, o = schema.articles, schema.matches, schema.outbox
        # by ix_articles_kept_first_seen: pruned articles are not in it
        old = select(a.c.id, a.c.first_seen).where(a.c.pruned.is_(None),
                                                    a.c.first_seen < before)
        pace = Pace(self.batch)
        for ids in self._oldest(old, pace):
            with self.store.reader.connect() as conn:
                match_ids = list(conn.execute(select(m.c.id).where(
                    m.c.article_id.in_(ids))).scalars())
            self.done.articles += len(ids)
            self.done.matches += len(match_ids)
            if self.dry_run:
                continue
            with self._tx(pace, len(ids)) as conn:
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
        # by ix_articles_first_seen: only the rows old enough are read
        gone = select(a.c.id, a.c.first_seen).where(a.c.first_seen < before,
                                                     a.c.pruned.is_not(None))
        if self.dry_run:  # articles not pruned yet would be by then
            gone = select(a.c.id, a.c.first_seen).where(a.c.first_seen < before)
        pace = Pace(self.batch)
        for ids in self._oldest(gone, pace):
            self.done.forgotten += len(ids)
            if self.dry_run:
                continue
            with self._tx(pace, len(ids)) as conn:
                conn.execute(delete(aliases).where(aliases.c.article_id.in_(ids)))
                conn.execute(delete(a).where(a.c.id.in_(ids)))

    def _runs(self, before: datetime) -> None:
        """Runs in id order (the order they started in), a batch at a time across all
        sources, until a batch holds none started before `before`: a day of 2,000
        sources polled every 2 minutes is 1.44 million runs, too many for a batch and a
        pause per source. A source keeps its newest KEEP_RUNS whatever their age."""
        r = schema.runs
        kept = self._kept_from(before)
        pace = Pace(RUN_BATCH)
        last = 0
        while not self.stopped():
            with self.store.reader.connect() as conn:
                rows = conn.execute(select(r.c.id, r.c.source, r.c.started, r.c.status)
                                    .where(r.c.id > last).order_by(r.c.id)
                                    .limit(pace.size)).all()
            old = [row for row in rows if row.started < before]
            if not old:
                return
            last = rows[-1].id
            ids = [row.id for row in old if row.status != "running"
                   and not (row.source in kept and row.started >= kept[row.source])]
            self.done.runs += len(ids)
            if ids and not self.dry_run:
                with self._tx(pace, len(rows)) as conn:
                    for chunk in _chunks(ids):
                        conn.execute(delete(r).where(r.c.id.in_(chunk)))

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
        pace = Pace(self.batch)
        for ids in self._ids(old, pace):
            self.done.emails += len(ids)
            if not self.dry_run:
                with self._tx(pace, len(ids)) as conn:
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
