"""`newswatch status`: per source its health, last run and bad runs in a row; per watch
its matches in the last day and week; the outbox."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from alerts import health, outbox
from config.models import Config
from store import schema
from store.db import Store, utcnow

EXIT_OK = 0


def cmd_status(args: argparse.Namespace, config: Config, path: Path) -> int:
    store = Store.shared(config.database)
    # piped or logged, tables keep every column instead of squeezing to 80
    console = Console(file=sys.stdout, highlight=False,
                      width=None if sys.stdout.isatty() else 160)
    now = utcnow()
    sources = Table(title="sources")
    for col in ("source", "health", "last run", "result", "pages", "new", "no text", "errors",
                "bad runs in a row", "articles"):
        sources.add_column(col)
    a, m = schema.articles, schema.matches
    health_states = health.states(store)
    with store.reader.connect() as conn:
        stored: dict[str, int] = dict(conn.execute(
            select(a.c.source, func.count()).group_by(a.c.source)).all())
        day: dict[str, int] = dict(conn.execute(select(m.c.watch, func.count()).where(
            m.c.matched_at >= now - timedelta(days=1)).group_by(m.c.watch)).all())
        week: dict[str, int] = dict(conn.execute(select(m.c.watch, func.count()).where(
            m.c.matched_at >= now - timedelta(days=7)).group_by(m.c.watch)).all())
    for src in config.sources:
        runs = store.runs(src.name, limit=20)
        bad = health.bad_streak(runs)
        last = runs[0] if runs else None
        state = health_states.get(src.name, ("healthy", None))[0]
        when = last["started"].strftime("%Y-%m-%d %H:%M") if last else "never"
        counts = [str(last[k]) if last else "-"
                  for k in ("pages", "new_articles", "no_text", "errors")]
        sources.add_row(src.name, state, when, last["status"] if last else "-", *counts,
                        str(bad), str(stored.get(src.name, 0)))
    console.print(sources)
    watches = Table(title="watches")
    for col in ("watch", "digest", "matches 24h", "matches 7d"):
        watches.add_column(col)
    for w in config.watches:
        watches.add_row(w.name, w.digest, str(day.get(w.name, 0)), str(week.get(w.name, 0)))
    console.print(watches)
    c = outbox.counts(store)
    console.print(f"outbox: {c['pending']} pending, {c['failed']} failed, {c['sent']} sent, "
                  f"{c['waiting']} alert(s) waiting for a digest")
    for e in outbox.failed_emails(store):
        console.print(f"  failed: to {e['recipient']}: {e['subject']} ({e['last_error']})",
                      markup=False)
    return EXIT_OK
