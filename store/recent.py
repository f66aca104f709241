"""Reading back what matched: the latest matches (newest first, filtered by watch, source
and time, a page at a time) with where each one's alerts stand. For `newswatch recent`,
the Atom feeds and the web view; reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from newswatch.config.times import Published, from_row
from newswatch.store import schema
from newswatch.store.db import Store


@dataclass
class Recent:
    id: int  # the match's
    watch: str
    query: str
    matched_at: datetime
    article_id: int
    url: str
    title: str
    source: str
    published: Published | None  # an instant, or only a day
    hits: list[dict[str, Any]]
    snippets: list[dict[str, Any]]
    duplicate_of: int | None
    # recipient -> "sent", "pending", "failed", "waiting" (for its digest or its turn),
    # or "held" (see mark_held)
    alerts: dict[str, str] = field(default_factory=dict)
    # recipient -> (digest, due, queued) of the alerts still waiting, for
    # alerts.schedule to say when they go
    waiting: dict[str, tuple[str, datetime, datetime]] = field(default_factory=dict)


@dataclass(frozen=True)
class Filters:
    watches: Sequence[str] = ()
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: Sequence[int] = ()  # these matches only


def _where(f: Filters) -> list[Any]:
    m, a = schema.matches, schema.articles
    out: list[Any] = []
    if f.watches:
        out.append(m.c.watch.in_(list(f.watches)))
    if f.source:
        # a match's article is never pruned (pruning deletes its matches): said here, it
        # lets the source's articles be found among those kept whole
        # (ix_articles_kept_source), not among every one kept for its URLs
        out.extend((a.c.source == f.source, a.c.pruned.is_(None)))
    if f.since is not None:
        out.append(m.c.matched_at >= f.since)
    if f.until is not None:
        out.append(m.c.matched_at < f.until)
    if f.ids:
        out.append(m.c.id.in_(list(f.ids)))
    return out


def count(store: Store, f: Filters) -> int:
    """How many matches pass the filters: from the matches' indexes alone unless a source
    is asked for (every match has its article: the join would only read articles)."""
    m, a = schema.matches, schema.articles
    query = select(func.count()).select_from(m)
    if f.source:
        query = query.join(a, a.c.id == m.c.article_id)
    with store.reader.connect() as conn:
        return int(conn.execute(query.where(*_where(f))).scalar_one())


def recent(store: Store, f: Filters = Filters(), limit: int = 50,
           offset: int = 0) -> list[Recent]:
    """Matches newest first; the index on matched_at keeps a page cheap on a large store."""
    m, a, o, e = schema.matches, schema.articles, schema.outbox, schema.emails
    with store.reader.connect() as conn:
        rows = conn.execute(
            select(m.c.id, m.c.watch, m.c.query, m.c.matched_at, m.c.hits, m.c.snippets,
                   m.c.duplicate_of, a.c.id.label("article_id"), a.c.url, a.c.title,
                   a.c.source, a.c.published, a.c.published_precision)
            .join(a, a.c.id == m.c.article_id).where(*_where(f))
            .order_by(m.c.matched_at.desc(), m.c.id.desc()).limit(limit).offset(offset)
        ).mappings().all()
        found = [Recent(id=r["id"], watch=r["watch"], query=r["query"],
                        matched_at=r["matched_at"], article_id=r["article_id"], url=r["url"],
                        title=r["title"] or "", source=r["source"],
                        published=from_row(r["published"], r["published_precision"]),
                        hits=r["hits"] or [], snippets=r["snippets"] or [],
                        duplicate_of=r["duplicate_of"]) for r in rows]
        by_id = {r.id: r for r in found}
        if by_id:
            for match_id, recipient, status, digest, due, queued in conn.execute(
                    select(o.c.match_id, o.c.recipient, e.c.status, o.c.digest, o.c.due,
                           o.c.created)
                    .outerjoin(e, e.c.id == o.c.email_id)
                    .where(o.c.match_id.in_(list(by_id)))):
                by_id[match_id].alerts[recipient] = (
                    "waiting" if status is None else "pending" if status == "sending"
                    else status)
                if status is None:
                    by_id[match_id].waiting[recipient] = (digest, due, queued)
    return found


def mark_held(rows: Sequence[Recent], muted: set[str]) -> Sequence[Recent]:
    """Alerts of disabled watches that were waiting are held (not sent while it is)."""
    for r in rows:
        if r.watch in muted:
            r.alerts = {k: "held" if v == "waiting" else v for k, v in r.alerts.items()}
    return rows


def match(store: Store, match_id: int) -> Recent | None:
    found = recent(store, Filters(ids=[match_id]), limit=1)
    return found[0] if found else None
