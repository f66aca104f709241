"""When a waiting alert goes out: at the first time, after it matched, of its watch's
digest as the config says now. An alert keeps the due time it was queued with while its
watch's schedule stays; change the digest (`daily` -> `daily@15:42`, `daily` ->
`hourly`, immediate <-> a digest) or the timezone, and the alerts already waiting move
to the new schedule with the new ones, so they go out together, in one digest. One whose
new time has passed goes at the next send."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from config.digest import next_due
from config.models import Config
from store import schema


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

    def waiting(self, conn: Connection, now: datetime) -> list[Waiting]:
        """Every alert waiting for its time (those of disabled watches aside: held)."""
        o, m = schema.outbox, schema.matches
        rows = conn.execute(
            select(o.c.id, m.c.watch, o.c.recipient, o.c.digest, o.c.due, o.c.created,
                   o.c.message_id).join(m, m.c.id == o.c.match_id)
            .where(o.c.email_id.is_(None), m.c.watch.not_in(self.muted))
            .order_by(o.c.recipient, o.c.id)).all()
        out = []
        for r in rows:
            digest, due = self.of(r.watch, r.digest, r.due, r.created, now)
            out.append(Waiting(r.id, r.watch, r.recipient, digest, due, r.message_id,
                               (digest, due) != (r.digest, r.due)))
        return out


def groups(rows: Iterable[Waiting],
           after: datetime | None = None) -> dict[tuple[str, str, datetime], int]:
    """Waiting alerts (those due after `after` only, if given) counted by (watch,
    digest, due), soonest first."""
    out: dict[tuple[str, str, datetime], int] = {}
    for r in rows:
        if after is None or r.due > after:
            key = (r.watch, r.digest, r.due)
            out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (kv[0][2], kv[0][0])))
