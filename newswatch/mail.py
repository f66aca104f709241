"""The alert side of the CLI: sending what is due after a crawl, `newswatch send`,
the dry-run preview and `newswatch status`."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from alerts import health, outbox
from alerts.deliver import Report, deliver
from alerts.preview import preview
from config.models import Config
from store import schema
from store.db import Store, utcnow

EXIT_OK, EXIT_FAILED = 0, 1


def send_due(config: Config, store: Store, force: bool = True) -> tuple[int, Report]:
    """Compose the due alerts into emails and deliver every pending email. A person who
    runs this by hand wants earlier failures retried now, hence `force`."""
    made = outbox.compose(store, config)
    return len(made), deliver(store, config.alerts, force=force)


def describe(report: Report, composed: int, store: Store, config: Config) -> str:
    c = outbox.counts(store)
    if config.alerts.smtp is not None:
        where = f"SMTP {config.alerts.smtp.host}"
    elif config.alerts.maildir is not None:
        where = f"maildir {config.alerts.maildir}"
    else:
        where = "no delivery configured (alerts.smtp or alerts.maildir): they wait in the outbox"
    line = (f"alerts: {composed} new email(s); sent {report.sent}, retry later {report.retry}, "
            f"failed {report.failed}; outbox: {c['pending']} pending, {c['failed']} failed, "
            f"{c['waiting']} waiting for a digest; {where}")
    if report.errors:
        line += f"\n  last error: {report.errors[-1]}"
    return line


def print_messages(messages: list[EmailMessage], out: TextIO) -> None:
    for msg in messages:
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        out.write(f"\n--- To: {msg['To']}\n--- Subject: {msg['Subject']}\n{text}")


def after_crawl(config: Config, dry_run: bool, out: TextIO, sources: list[str],
                send: bool = True) -> bool:
    """Assess the sources' health and send (or, dry, print) the alerts a crawl produced;
    False if sending failed. Under the daemon (`send=False`) its sender does the sending."""
    if dry_run:
        from pipeline.store import StorePipeline

        messages = preview(config, StorePipeline.dry_run_matches, utcnow())
        out.write(f"dry run: {len(messages)} email(s) would be sent, nothing was stored\n")
        print_messages(messages, out)
        return True
    store = Store.shared(config.database)
    for change in health.check(store, config, sources):
        out.write(f"source {change.source} is now {change.state}: {change.reason} "
                  f"(ops notified)\n")
    if not send:
        return True
    composed, report = send_due(config, store)
    out.write(describe(report, composed, store, config) + "\n")
    return not report.errors


def cmd_send(args: argparse.Namespace, config: Config, path: Path) -> int:
    store = Store.shared(config.database)
    if args.dry_run:
        made = outbox.compose(store, config, commit=False)
        pending = outbox.counts(store)["pending"]
        print(f"dry run: {len(made)} new email(s) would be composed; {pending} already "
              "pending would be retried; nothing was sent")
        print_messages([m["message"] for m in made], sys.stdout)
        return EXIT_OK
    composed, report = send_due(config, store)
    print(describe(report, composed, store, config))
    return EXIT_FAILED if report.errors else EXIT_OK


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
