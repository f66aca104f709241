"""Writing matches: the match rows of a new article, its story (near-identical copies
share one), and the outbox rows of each match, all in the article's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import Connection, and_, insert, select

from rules.matcher import Match
from store import schema

# wire copies and light edits (an added line, a changed word) differ in up to ~10 of the
# 64 simhash bits; different
# stories differ in about half of them
SAME_STORY_BITS = 10
STORY_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Route:
    """Where a watch's matches go: its recipients, digest and first send time."""

    recipients: tuple[str, ...]
    digest: str
    due: datetime
    msgid_domain: str = "newswatch.localhost"


class StoryIndex:
    """Recent fingerprints, read incrementally so that finding an article's story costs
    one small query and a scan of 64-bit integers."""

    def __init__(self) -> None:
        self.last_id = 0
        self.entries: list[tuple[int, int, datetime]] = []  # simhash, story id, first seen

    def story_for(self, conn: Connection, fingerprint: str | None, now: datetime) -> int | None:
        if not fingerprint:
            return None
        a = schema.articles
        rows = conn.execute(
            select(a.c.id, a.c.fingerprint, a.c.story_id, a.c.first_seen)
            .where(a.c.id > self.last_id, a.c.fingerprint.is_not(None),
                   a.c.first_seen >= now - STORY_WINDOW).order_by(a.c.id))
        for row in rows:
            self.last_id = row.id
            self.entries.append((int(row.fingerprint, 16), row.story_id or row.id,
                                 row.first_seen))
        self.entries = [e for e in self.entries if e[2] >= now - STORY_WINDOW]
        value = int(fingerprint, 16)
        for other, story, _ in self.entries:
            if (value ^ other).bit_count() <= SAME_STORY_BITS:
                return story
        return None


def add_matches(conn: Connection, article_id: int, story_id: int, found: Iterable[Match],
                routes: Mapping[str, Route], now: datetime) -> int:
    """Store the matches of a just-stored article and queue one outbox row per recipient,
    except for a story the same watch has matched before: that copy is recorded as
    "also reported by" (duplicate_of) and the story's one alert lists it."""
    m, a = schema.matches, schema.articles
    stored = 0
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
    return stored
