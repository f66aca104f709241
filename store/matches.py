"""Writing matches: the match rows of a new article, its story (near-identical copies
share one), and the outbox rows of each match, all in the article's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from itertools import chain, pairwise

from sqlalchemy import Connection, and_, bindparam, insert, select

from newswatch.rules.matcher import Match
from newswatch.store import schema

# wire copies and light edits (an added line, a changed word) differ in up to ~10 of the
# 64 simhash bits; different
# stories differ in about half of them
SAME_STORY_BITS = 10
STORY_WINDOW = timedelta(days=7)
# On PostgreSQL, writers commit side by side, so an article can become visible after
# one with a larger id was read. The ids passed over below the largest one read (among
# the last GAP_SPAN) are asked for again at each refresh, for COMMIT_LAG (longer than
# any write transaction): an id that never shows up was rolled back or deleted.
COMMIT_LAG = timedelta(minutes=5)
GAP_SPAN = 1000


@dataclass(frozen=True)
class Route:
    """Where a watch's matches go: its recipients, digest and first send time."""

    recipients: tuple[str, ...]
    digest: str
    due: datetime
    msgid_domain: str = "newswatch.localhost"


# pigeonhole: fingerprints within SAME_STORY_BITS differ in at most that many of these
# SAME_STORY_BITS + 1 bit bands, so a near copy is identical in at least one band
_BANDS = SAME_STORY_BITS + 1
_EDGES = [round(i * 64 / _BANDS) for i in range(_BANDS + 1)]
_MASKS = [((1 << (hi - lo)) - 1, lo) for lo, hi in pairwise(_EDGES)]


_COLUMNS = (schema.articles.c.id, schema.articles.c.fingerprint,
            schema.articles.c.story_id, schema.articles.c.first_seen)
# the first read: the window's articles
_RECENT = (select(*_COLUMNS).where(schema.articles.c.first_seen >= bindparam("since"))
           .order_by(schema.articles.c.id))
# then: those stored since, and those passed over that may have committed since (two
# statements: an OR of the two can make PostgreSQL scan the whole table)
_NEWER = select(*_COLUMNS).where(schema.articles.c.id > bindparam("last"))
_GAPS = select(*_COLUMNS).where(schema.articles.c.id.in_(bindparam("gaps", expanding=True)))


class StoryIndex:
    """Recent fingerprints, read incrementally and indexed by bit band, so that finding
    an article's story looks at a few candidates instead of every recent article."""

    def __init__(self) -> None:
        self.ids: set[int] = set()  # the articles indexed
        self.last_id = 0  # the largest id read
        self.gaps: dict[int, datetime] = {}  # ids passed over below it: when noticed
        self.oldest: datetime | None = None
        # simhash, story id, first seen, article id
        self.entries: list[tuple[int, int, datetime, int | None]] = []
        self.bands: list[dict[int, list[tuple[int, int]]]] = [{} for _ in _MASKS]

    def _add(self, value: int, story: int, seen: datetime, article: int | None = None) -> None:
        self.entries.append((value, story, seen, article))
        if article is not None:
            self.ids.add(article)
        # one tuple in every band: a tuple each was most of the index's memory (eleven
        # of them an article, ~600 bytes; a week of 10,000 sources is 600,000 articles)
        pair = (value, story)
        for table, (mask, shift) in zip(self.bands, _MASKS, strict=True):
            table.setdefault((value >> shift) & mask, []).append(pair)
        if self.oldest is None or seen < self.oldest:
            self.oldest = seen

    def _prune(self, now: datetime) -> None:
        """Drop what left the window; the tables are rebuilt, so at most once an hour."""
        if self.oldest is None or self.oldest >= now - STORY_WINDOW - timedelta(hours=1):
            return
        keep = [e for e in self.entries if e[2] >= now - STORY_WINDOW]
        self.entries, self.oldest, self.ids = [], None, set()
        self.bands = [{} for _ in _MASKS]
        for entry in keep:
            self._add(*entry)

    def refresh(self, conn: Connection, now: datetime) -> None:
        """Index the articles stored since the last refresh (by any process) and drop
        those that left the window. Ids do not become visible in order when writers
        commit side by side: the ones passed over are asked for again (see GAP_SPAN)."""
        since = now - STORY_WINDOW
        if self.last_id == 0:
            rows = list(conn.execute(_RECENT, {"since": since}))
        else:
            rows = list(conn.execute(_NEWER, {"last": self.last_id}))
            if self.gaps:
                rows += conn.execute(_GAPS, {"gaps": sorted(self.gaps)})
            rows.sort(key=lambda r: r.id)
        read: set[int] = set()
        for row in rows:
            read.add(row.id)
            self.gaps.pop(row.id, None)
            if row.fingerprint is not None and row.first_seen >= since \
                    and row.id not in self.ids:
                self._add(int(row.fingerprint, 16), row.story_id or row.id, row.first_seen,
                          row.id)
        top = max(read, default=0)
        if top > self.last_id:
            for missing in range(max(self.last_id + 1, top - GAP_SPAN), top):
                if missing not in read:
                    self.gaps[missing] = now
            self.last_id = top
        self.gaps = {i: noticed for i, noticed in self.gaps.items()
                     if noticed >= now - COMMIT_LAG and i > self.last_id - GAP_SPAN}
        self._prune(now)

    def find(self, value: int, also: Iterable[tuple[int, int]] = ()) -> int | None:
        """The story of the closest fingerprint within SAME_STORY_BITS: among the indexed
        ones and `also` (fingerprint, story) pairs, e.g. those not yet committed."""
        banded = (table.get((value >> shift) & mask, ())
                  for table, (mask, shift) in zip(self.bands, _MASKS, strict=True))
        best: tuple[int, int] | None = None  # bits apart, story
        for other, story in chain(chain.from_iterable(banded), also):
            bits = (value ^ other).bit_count()
            if bits <= SAME_STORY_BITS and (best is None or (bits, story) < best):
                best = (bits, story)
        return best[1] if best else None


def add_matches(conn: Connection, article_id: int, story_id: int, found: Iterable[Match],
                routes: Mapping[str, Route], now: datetime) -> tuple[int, int]:
    """Store the matches of a just-stored article and queue one outbox row per recipient
    (returns how many of each), except for a story the same watch has matched before:
    that copy is recorded as "also reported by" (duplicate_of) and the story's one alert
    lists it."""
    m, a = schema.matches, schema.articles
    stored = queued = 0
    for match in found:
        earlier = None
        if story_id != article_id:
            earlier = conn.execute(
                select(m.c.id).join(a, a.c.id == m.c.article_id)
                .where(and_(m.c.watch == match.watch, a.c.story_id == story_id,
                            m.c.duplicate_of.is_(None)))
                .order_by(m.c.id).limit(1)).scalar()
        match_id = conn.execute(insert(m).values(
            watch=match.watch, article_id=article_id, query=match.query, hits=match.hits,
            snippets=match.snippets, matched_at=now, duplicate_of=earlier,
        )).inserted_primary_key[0]  # type: ignore[index]
        stored += 1
        route = routes.get(match.watch)
        if earlier is not None or route is None:
            continue
        rows = [{"match_id": match_id, "recipient": rcpt, "digest": route.digest,
                 "due": route.due, "message_id": make_msgid("newswatch", route.msgid_domain),
                 "created": now} for rcpt in route.recipients]
        if rows:
            conn.execute(insert(schema.outbox), rows)
            queued += len(rows)
    return stored, queued
