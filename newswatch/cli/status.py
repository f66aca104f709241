"""`newswatch status`: per source its health, last run and bad runs in a row; per watch
its matches in the last day and week; the outbox."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from newswatch.alerts import outbox
from newswatch.alerts.schedule import Schedule
from newswatch.alerts.transport import shown
from newswatch.cli import tables
from newswatch.config.models import Config
from newswatch.config.times import readable
from newswatch.exits import EXIT_OK, EXIT_USAGE
from newswatch.service import health
from newswatch.store import schedules, schema
from newswatch.store.db import Store, utcnow
from newswatch.store.errors import why
from newswatch.store.migrate import SchemaBehind
from newswatch.store.sources import runs_of


def cmd_status(args: argparse.Namespace, config: Config, path: Path) -> int:
    with Store(config.database) as store:
        return _status(args, config, store)


def _status(args: argparse.Namespace, config: Config, store: Store) -> int:
    console = tables.console_for(sys.stdout)
    tz = ZoneInfo(config.timezone)
    now = utcnow()
    if getattr(args, "source", None):
        return source_status(config, store, args.source, console, tz)
    wide = getattr(args, "wide", False)
    sources = tables.table(f"sources (times in {config.timezone})", [
        "source", "health", "last run", "result", "pages", "new", "no\ntext", "errors",
        "bad runs\nin a row", "articles"], numeric_from=4,
        drop=["pages", "no text", "articles", "new", "errors", "last run"], wide=wide)
    a, m = schema.articles, schema.matches
    health_states = health.states(store)
    with store.reader.connect() as conn:
        # the articles kept whole (not pruned): the rows of pruned ones, kept for their
        # URLs, would make this count grow all year (ix_articles_kept_source)
        stored: dict[str, int] = dict(conn.execute(
            select(a.c.source, func.count()).where(a.c.pruned.is_(None))
            .group_by(a.c.source)).all())
        day: dict[str, int] = dict(conn.execute(select(m.c.watch, func.count()).where(
            m.c.matched_at >= now - timedelta(days=1)).group_by(m.c.watch)).all())
        week: dict[str, int] = dict(conn.execute(select(m.c.watch, func.count()).where(
            m.c.matched_at >= now - timedelta(days=7)).group_by(m.c.watch)).all())
    troubled: list[tuple[str, str]] = []
    for src in config.sources:
        runs = runs_of(store, src.name, 20)  # by the index: a seek, not a sort
        bad = health.bad_streak(runs)
        last = runs[0] if runs else None
        state = health_states.get(src.name, ("healthy", None))[0]
        when = readable(last["started"], tz).replace(" ", "\n", 1) if last else "never"
        counts = [str(last[k]) if last else "-"
                  for k in ("pages", "new_articles", "no_text", "errors")]
        sources.add_row(src.name, state, when, last["status"] if last else "-", *counts,
                        str(bad), str(stored.get(src.name, 0)))
        if bad or state == "failing":  # why its last bad run was bad
            said = next((p if r["status"] == "ok" else f"{r['status']}: {p}"
                         for r in runs if (p := health.problem(r))), None)
            if said:
                troubled.append((src.name, said))
    tables.show(console, sources)
    for name, said in troubled:  # the table has no room for it
        tables.say(console, f"{name}: {said}")
    watches = tables.table("watches", ["watch", "digest", "matches\n24h", "matches\n7d"],
                           drop=["matches 7d"], wide=wide)
    for w in config.watches:
        watches.add_row(w.name, w.digest, str(day.get(w.name, 0)), str(week.get(w.name, 0)))
    tables.show(console, watches)
    if config.queue is not None:
        cluster_status(config, config.queue, console, tz, wide)
    outbox_lines(config, store, now, console)
    return EXIT_OK


def source_status(config: Config, store: Store, name: str, console: Any, tz: tzinfo) -> int:
    """`status --source NAME`: one source's health, last run and schedule."""
    names = [s.name for s in config.sources]
    if name not in names:
        print(f"newswatch: no source named {name!r} in the config (sources: "
              f"{', '.join(names) or 'none'})", file=sys.stderr)
        return EXIT_USAGE
    state = health.states(store).get(name, ("healthy", None))
    runs = runs_of(store, name, 20)
    tables.say(console, f"source {name}: {state[0]}" + (f" ({state[1]})" if state[1] else ""))
    if runs:
        last = runs[0]
        said = health.problem(last)
        tables.say(console, f"last run: {readable(last['started'], tz)}, {last['status']}, "
                            f"{last['new_articles'] or 0} new" + (f" ({said})" if said else ""))
    else:
        tables.say(console, "last run: never")
    for label, value in schedules.describe(config, store, name, tz):
        tables.say(console, f"{label}: {value}")
    return EXIT_OK


def outbox_lines(config: Config, store: Store, now: datetime, console: Any) -> None:
    """The outbox: its counts, each failed message and each one to retry with the
    server's answer, and when the alerts waiting for a digest will go."""
    schedule = Schedule(config)
    c = outbox.counts(store, schedule.muted)
    line = (f"outbox: {c['pending']} pending, {c['failed']} failed, {c['sent']} sent, "
            f"{c['waiting']} alert(s) waiting for a digest")
    if c["held"]:
        line += f", {c['held']} held (their watch is disabled)"
    tables.say(console, line)
    for e in outbox.failed_emails(store):
        tables.say(console, f"  failed: to {shown(e['recipient'])}: {e['subject']} "
                            f"({e['last_error']})")
    for e in outbox.failed_emails(store, "pending"):
        tables.say(console, f"  to retry: to {shown(e['recipient'])}: "
                            f"{e['subject']} (last error: {e['last_error']})")
    with store.reader.connect() as conn:
        waiting = schedule.counts(conn, now)
    for (watch, digest, due), n in waiting.items():
        late = " (goes at the next send)" if due <= now else ""
        tables.say(console, f"  waiting: {n} alert{'s' if n != 1 else ''} of {watch} "
                            f"({digest} digest), due {schedule.when(due)}{late}")


def cluster_status(config: Config, url: str, console: Any, tz: tzinfo,
                   wide: bool = False) -> None:
    """The shared queue: which scheduler leads, the workers, the polls waiting."""
    from newswatch.service.cluster import database, lease

    engine = database.make_engine(url)
    try:
        if not database.has_schema(engine):  # status only reads: it creates nothing
            tables.say(console, f"queue at {database.where(url)}: no scheduler or worker has "
                                "used it yet")
            return
        database.check_schema(url)  # behind: the line says to run `newswatch migrate`
        chief = lease.leader(engine)
        rows = lease.workers(engine)
        waiting = database.waiting(engine)
    except SchemaBehind as exc:
        tables.say(console, f"queue: {exc}")
        return
    except Exception as exc:
        tables.say(console, f"queue at {database.where(url)}: cannot be read: {why(exc)}")
        return
    finally:
        engine.dispose()
    if chief is None:
        tables.say(console, "scheduler: none has led yet")
    elif chief.valid:
        tables.say(console, f"scheduler: {chief.holder} leads (since "
                            f"{readable(chief.since, tz)})")
    else:
        tables.say(console, f"scheduler: none leads (the lease of {chief.holder} ran out "
                            f"at {readable(chief.expires, tz)})")
    table = tables.table(f"workers ({waiting} poll(s) waiting in the queue)", [
        "host", "pid", "state", "polls in\nflight", "last heartbeat", "started"],
        numeric_from=3, drop=["started", "pid"], wide=wide)
    for w in rows:
        # as the leader sees it: three missed heartbeats and its polls are taken over
        silent = lease.silence(config.daemon.heartbeat.total_seconds())
        state = w.state if w.age < silent else "silent"
        table.add_row(w.host, str(w.pid), state, str(w.in_flight), f"{w.age:.0f} s ago",
                      readable(w.started, tz))
    tables.show(console, table)
