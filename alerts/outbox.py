"""The outbox: pending (match, recipient) rows become one email per recipient and batch,
and emails move pending -> sending -> sent (or back to pending with a backoff, or to
failed). Nothing is deleted; an email's bytes and Message-ID never change once composed."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from newswatch.alerts import channels
from newswatch.alerts.render import AlertItem, Outlet, Renderer, matched_terms
from newswatch.alerts.schedule import Schedule
from newswatch.alerts.transport import is_channel
from newswatch.config.models import Config
from newswatch.config.times import from_row
from newswatch.store import schema
from newswatch.store.db import Store, utcnow, worker_id

log = logging.getLogger(__name__)

BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
# a claim by a process that vanished (crashed, killed) is taken back after this long;
# on the same host a dead claimant's emails are taken back at once
LEASE = timedelta(minutes=15)


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _dead(claimed_by: str | None) -> bool:
    """The claimant (a worker_id, host:pid) is gone: it ran on this host and its process
    is not there any more."""
    if not claimed_by or ":" not in claimed_by:
        return True
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _items(conn: Connection, outbox_ids: list[int]) -> list[AlertItem]:
    o, m, a = schema.outbox, schema.matches, schema.articles
    rows = conn.execute(
        select(o.c.id, m.c.watch, m.c.query, m.c.hits, m.c.snippets, a.c.id.label("article"),
               a.c.title, a.c.url, a.c.source, a.c.published, a.c.published_precision,
               a.c.story_id)
        .join(m, m.c.id == o.c.match_id).join(a, a.c.id == m.c.article_id)
        .where(o.c.id.in_(outbox_ids)).order_by(m.c.watch, o.c.id)).mappings().all()
    items = []
    for r in rows:
        others = [] if r["story_id"] is None else conn.execute(
            select(a.c.source, a.c.url).where(a.c.story_id == r["story_id"],
                                              a.c.id != r["article"]).order_by(a.c.id)).all()
        items.append(AlertItem(r["watch"], r["query"], r["title"] or "", r["url"], r["source"],
                               from_row(r["published"], r["published_precision"]),
                               matched_terms(r["hits"]), r["snippets"],
                               [Outlet(s, u) for s, u in others]))
    return items


def queue_email(conn: Connection, recipient: str, digest: str, msg: EmailMessage,
                now: datetime) -> int:
    """Store a composed email as pending; its bytes and Message-ID never change again."""
    return queue_message(conn, recipient, digest, str(msg["Message-ID"]),
                         str(msg["Subject"]), msg.as_bytes(), now)


def queue_message(conn: Connection, recipient: str, digest: str, message_id: str,
                  subject: str, body: bytes, now: datetime) -> int:
    """An email's bytes, or a channel's message (alerts.channels), as pending."""
    return int(conn.execute(insert(schema.emails).values(
        recipient=recipient, digest=digest, message_id=message_id, subject=subject,
        mime=body, status="pending", attempts=0, next_attempt=now, created=now,
    )).inserted_primary_key[0])  # type: ignore[index]


Batch = tuple[str, str]  # (recipient, digest)


@dataclass
class Made:
    """A message composed from due alerts: an email's bytes, or a channel's message."""

    id: int
    recipient: str
    digest: str
    subject: str
    body: bytes
    message: EmailMessage | None  # None for a channel
    alerts: int

    @property
    def text(self) -> str:
        """Its plain text, as a dry run prints it."""
        if self.message is None:
            return str(json.loads(self.body)["text"]) + "\n"
        part = self.message.get_body(("plain",))
        return str(part.get_content()) if part is not None else ""


def compose(store: Store, config: Config, now: datetime | None = None, commit: bool = True,
            extra: Mapping[Batch, Sequence[AlertItem]] | None = None) -> list[Made]:
    """Put every due outbox row into a message: one per recipient and digest, each
    alert on its watch's schedule as the config says now (alerts.schedule; the moved
    ones are written back). Returns the messages made; with `commit=False`, what would
    be made, nothing written, and `extra` alerts (a dry-run crawl's, never stored)
    joined to the batches as a real crawl would."""
    now = now or utcnow()
    renderer = Renderer(config.alerts.templates, config.timezone)
    schedule = Schedule(config)
    o = schema.outbox
    made: list[Made] = []
    with store.engine.connect() as conn, conn.begin() as tx:
        # a disabled watch's alerts queued before it was disabled are held, not sent
        # ... and are locked (FOR UPDATE SKIP LOCKED) when they will be written: two
        # composers at once (the daemon and `newswatch send`) never put one alert in two
        # messages, the second passes over what the first is composing
        waiting = schedule.waiting(conn, now, due_only=True, lock=commit)
        moved = [{"row": w.id, "digest": w.digest, "due": w.due} for w in waiting if w.moved]
        if moved:
            conn.execute(update(o).where(o.c.id == bindparam("row"))
                         .values(digest=bindparam("digest"), due=bindparam("due")), moved)
        batches: dict[Batch, list[Any]] = {}
        for w in waiting:
            if w.due <= now:
                batches.setdefault((w.recipient, w.digest), []).append(w)
        for key in extra or {}:
            batches.setdefault(key, [])
        for (recipient, digest), rows in sorted(batches.items()):
            items = _items(conn, [r.id for r in rows])
            if extra and extra.get((recipient, digest)):
                items = sorted([*items, *extra[(recipient, digest)]], key=lambda i: i.watch)
            # fixed when the first match was stored
            message_id = rows[0].message_id if rows else make_msgid("newswatch-dry-run")
            msg: EmailMessage | None = None
            if is_channel(recipient):
                body = channels.render(items, digest)
                subject = str(json.loads(body)["title"])
            else:
                msg = renderer.message(items, sender=config.alerts.from_,
                                       recipient=recipient, message_id=message_id,
                                       digest=digest, now=now)
                subject, body = str(msg["Subject"]), msg.as_bytes()
            email_id = queue_message(conn, recipient, digest, message_id, subject, body, now)
            conn.execute(update(o).where(o.c.id.in_([r.id for r in rows]))
                         .values(email_id=email_id))
            made.append(Made(email_id, recipient, digest, subject, body, msg, len(items)))
        if not commit:
            tx.rollback()
    return made


@dataclass
class Claimed:
    id: int
    recipient: str
    message_id: str
    subject: str
    mime: bytes
    attempts: int


def claim(store: Store, now: datetime | None = None, force: bool = False) -> list[Claimed]:
    """Take the emails that are due (all pending ones with `force`), and those whose
    claimant died, for this process."""
    now = now or utcnow()
    e = schema.emails
    me = worker_id()
    with store.tx() as conn:
        pending = e.c.status == "pending"
        if not force:
            pending = and_(pending, e.c.next_attempt <= now)
        # rows another sender is claiming right now are passed over (SKIP LOCKED), and
        # one it has claimed is 'sending' by a live claimant when we read it: two
        # senders never take the same email (SQLite: writers take turns anyway)
        rows = conn.execute(select(e.c.id, e.c.status, e.c.claimed, e.c.claimed_by)
                            .where(or_(pending, e.c.status == "sending"))
                            .with_for_update(skip_locked=True)).all()
        ids = [r.id for r in rows if r.status == "pending"]
        for r in rows:
            if r.status == "sending":
                stale = r.claimed is None or r.claimed < now - LEASE
                if stale or _dead(r.claimed_by):
                    ids.append(r.id)
        if not ids:
            return []
        conn.execute(update(e).where(e.c.id.in_(ids)).values(
            status="sending", claimed=now, claimed_by=me))
        got = conn.execute(select(e.c.id, e.c.recipient, e.c.message_id, e.c.subject,
                                  e.c.mime, e.c.attempts).where(e.c.id.in_(ids))
                           .order_by(e.c.id)).all()
    return [Claimed(r.id, r.recipient, r.message_id, r.subject, r.mime, r.attempts) for r in got]


def mark_sent(store: Store, email_id: int) -> None:
    e = schema.emails
    with store.tx() as conn:
        conn.execute(update(e).where(e.c.id == email_id).values(
            status="sent", sent=utcnow(), last_error=None, attempts=e.c.attempts + 1))


def mark_retry(store: Store, email_id: int, error: str, attempts: int) -> datetime:
    e = schema.emails
    when = utcnow() + backoff(attempts + 1)
    with store.tx() as conn:
        conn.execute(update(e).where(e.c.id == email_id).values(
            status="pending", attempts=attempts + 1, next_attempt=when, last_error=error))
    return when


def mark_failed(store: Store, email_id: int, error: str) -> None:
    e = schema.emails
    with store.tx() as conn:
        conn.execute(update(e).where(e.c.id == email_id).values(
            status="failed", attempts=e.c.attempts + 1, last_error=error))


def release(store: Store, email_ids: list[int]) -> None:
    """Give back claimed emails untried (the connection went away before their turn)."""
    if not email_ids:
        return
    e = schema.emails
    with store.tx() as conn:
        conn.execute(update(e).where(e.c.id.in_(email_ids), e.c.status == "sending")
                     .values(status="pending", claimed_by=None))


def counts(store: Store, muted: list[str] | None = None) -> dict[str, int]:
    """Emails by status, alerts waiting for their digest time, and alerts held because
    their watch is disabled (`muted`)."""
    e, o, m = schema.emails, schema.outbox, schema.matches
    muted = muted or []
    with store.reader.connect() as conn:
        out = {status: n for status, n in conn.execute(
            select(e.c.status, func.count()).group_by(e.c.status))}
        unsent = dict(conn.execute(
            select(m.c.watch.in_(muted), func.count()).select_from(o)
            .join(m, m.c.id == o.c.match_id).where(o.c.email_id.is_(None))
            .group_by(m.c.watch.in_(muted))).all())
    return {"pending": out.get("pending", 0) + out.get("sending", 0),
            "sent": out.get("sent", 0), "failed": out.get("failed", 0),
            "waiting": unsent.get(False, 0), "held": unsent.get(True, 0)}


def failed_emails(store: Store, status: str = "failed",
                  errors_only: bool = True) -> Iterator[dict[str, Any]]:
    """The emails held as failed (or, with status="pending", those waiting to be tried
    again after an error; all that wait, with `errors_only=False`), with their last
    error. Channel messages are among them: their recipient is the channel's URL."""
    e = schema.emails
    statuses = ["pending", "sending"] if status == "pending" else [status]
    query = select(e.c.id, e.c.recipient, e.c.subject, e.c.last_error).where(
        e.c.status.in_(statuses)).order_by(e.c.id)
    if status != "failed" and errors_only:
        query = query.where(e.c.last_error.is_not(None))
    with store.reader.connect() as conn:
        for r in conn.execute(query).mappings():
            yield dict(r)
