"""Each source's adaptive schedule in the store (table `schedules`): written by whoever
records a poll's end (a crawl worker, local or on another machine), read by the
scheduler that leads, `newswatch status` and the web view."""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import insert, select, update

from newswatch.config.models import Config
from newswatch.config.pacing import Pace, explain, roughly
from newswatch.config.times import readable
from newswatch.store import schema
from newswatch.store.db import Store, utcnow

log = logging.getLogger(__name__)

_FIELDS = ("interval", "articles", "hours", "quiet", "strikes", "last_poll", "next_poll",
           "reason", "asked")


def _pace(row: Any) -> Pace:
    return Pace(**{k: row[k] for k in _FIELDS})


def load(store: Store, source: str) -> Pace | None:
    s = schema.schedules
    with store.reader.connect() as conn:
        row = conn.execute(select(s).where(s.c.source == source)).mappings().first()
    return _pace(row) if row is not None else None


def save(store: Store, source: str, pace: Pace) -> None:
    s = schema.schedules
    values = {k: getattr(pace, k) for k in _FIELDS} | {"updated": utcnow()}
    with store.tx() as conn:
        done = conn.execute(update(s).where(s.c.source == source).values(**values))
        if not done.rowcount:
            conn.execute(insert(s).values(source=source, **values))


def changed(store: Store, since: datetime | None) -> list[tuple[str, Pace, datetime]]:
    """(source, pace, when it was written) of the schedules written since `since` (all
    of them for None), oldest write first."""
    s = schema.schedules
    query = select(s).order_by(s.c.updated)
    if since is not None:
        query = query.where(s.c.updated >= since)
    with store.reader.connect() as conn:
        return [(row["source"], _pace(row), row["updated"])
                for row in conn.execute(query).mappings()]


def describe(config: Config, store: Store, name: str, tz: tzinfo
                   ) -> list[tuple[str, str]]:
    """A source's schedule as `status --source` and the web view say it, (label, value):
    its next poll, its current interval and why."""
    source = config.source(name)
    pace = load(store, name)
    lines = [("schedule", source.schedule)]
    if pace is None or pace.next_poll is None:
        lines.append(("next poll", "when the daemon starts (never polled yet)"))
        return lines
    if source.cron and not pace.asked:
        lines.append(("next poll", "on its cron schedule"))
    else:
        lines.append(("next poll", readable(pace.next_poll, tz)))
        if not source.cron:
            lines.append(("interval", roughly(pace.interval)))
    lines.append(("why", explain(pace, tz)))
    if pace.rate is not None and not source.cron:
        lines.append(("publishes", f"{pace.rate:.2g} new article(s) an hour lately (last "
                                   f"poll {readable(pace.last_poll, tz)})"))
    return lines
