"""When a waiting alert goes out: at the first time, after it matched, of its watch's
digest as the config says now. An alert keeps the due time it was queued with while its
watch's schedule stays; change the digest (`daily` -> `daily@15:42`, `daily` ->
`hourly`, immediate <-> a digest) or the timezone, and the alerts already waiting move
to the new schedule with the new ones, so they go out together, in one digest. One whose
new time has passed goes at the next send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Row, and_, func, or_, select

from newswatch.config.digest import next_due
from newswatch.config.models import Config
from newswatch.store import schema


@dataclass(frozen=True)
class Waiting:
    """An outbox row not yet in a message, with the digest and due time it follows."""

    id: int
    watch: str
    recipient: str
    digest: str
    due: datetime
    message_id: str
    moved: bool  # its stored digest or due time is not the schedule's any more


class Schedule:
    def __init__(self, config: Config):
        self.tz = ZoneInfo(config.timezone)
        self.digests = {w.name: w.digest for w in config.watches}
        self.muted = [w.name for w in config.watches if not w.enabled]

    def of(self, watch: str, digest: str, due: datetime, created: datetime,
           now: datetime) -> tuple[str, datetime]:
        """The digest and due time an alert queued at `created` with (`digest`, `due`)
        follows now."""
        current = self.digests.get(watch)
        if current is None:  # its watch left the config: as it was queued
            return digest, due
        # a due time that has come stays (it goes at the next send, whatever changed)
        if current == digest and (due <= now or due == next_due(digest, self.tz, created)):
            return digest, due
        return current, next_due(current, self.tz, created)

    def when(self, due: datetime) -> str:
        """A due time as people read it: in the config's timezone, with its abbreviation."""
        return f"{due.astimezone(self.tz):%Y-%m-%d %H:%M %Z}"

    def waiting(self, conn: Connection, now: datetime, due_only: bool = False,
                lock: bool = False) -> list[Waiting]:
        """The alerts waiting for their time (those of disabled watches aside: held);
        with `due_only`, those due by `now` and those the schedule moves: not every
        alert waiting, which the daemon would read every few seconds. With `lock`, the
        rows are locked for this transaction, and those another one holds passed over."""
        if not due_only:
            return self._rows(conn, now, lock=lock)
        o = schema.outbox
        return self._rows(conn, now, or_(o.c.due <= now, *self._moving(conn, now)[1]),
                          lock=lock)

    def counts(self, conn: Connection,
               now: datetime) -> dict[tuple[str, str, datetime], int]:
        """The waiting alerts counted by (watch, digest, due), soonest first."""
        out: dict[tuple[str, str, datetime], int] = {}
        staying, moving = self._moving(conn, now)
        for g in staying:
            out[(g.watch, g.digest, g.due)] = out.get((g.watch, g.digest, g.due), 0) + g.n
        if moving:  # after a change of schedule, until the next send writes it down
            for r in self._rows(conn, now, or_(*moving)):
                out[(r.watch, r.digest, r.due)] = out.get((r.watch, r.digest, r.due), 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (kv[0][2], kv[0][0])))

    def _rows(self, conn: Connection, now: datetime,
              where: ColumnElement[bool] | None = None, lock: bool = False) -> list[Waiting]:
        o, m = schema.outbox, schema.matches
        query = (select(o.c.id, m.c.watch, o.c.recipient, o.c.digest, o.c.due, o.c.created,
                        o.c.message_id).join(m, m.c.id == o.c.match_id)
                 .where(o.c.email_id.is_(None), m.c.watch.not_in(self.muted))
                 .order_by(o.c.recipient, o.c.id))
        if lock:
            query = query.with_for_update(skip_locked=True, of=o)
        out = []
        for r in conn.execute(query if where is None else query.where(where)):
            digest, due = self.of(r.watch, r.digest, r.due, r.created, now)
            out.append(Waiting(r.id, r.watch, r.recipient, digest, due, r.message_id,
                               (digest, due) != (r.digest, r.due)))
        return out

    def _moving(self, conn: Connection,
                now: datetime) -> tuple[list[Row[Any]], list[ColumnElement[bool]]]:
        """The groups of waiting alerts queued with one (watch, digest, due) that stay
        on the schedule, and a condition for each group that does not. A group stays if
        its first and its last alert do: next_due never goes back in time."""
        o, m = schema.outbox, schema.matches
        staying, moving = [], []
        for g in conn.execute(
                select(m.c.watch, o.c.digest, o.c.due, func.min(o.c.created).label("first"),
                       func.max(o.c.created).label("last"), func.count().label("n"))
                .join(m, m.c.id == o.c.match_id)
                .where(o.c.email_id.is_(None), m.c.watch.not_in(self.muted))
                .group_by(m.c.watch, o.c.digest, o.c.due)):
            if all(self.of(g.watch, g.digest, g.due, queued, now) == (g.digest, g.due)
                   for queued in (g.first, g.last)):
                staying.append(g)
            else:
                moving.append(and_(m.c.watch == g.watch, o.c.digest == g.digest,
                                   o.c.due == g.due))
        return staying, moving
