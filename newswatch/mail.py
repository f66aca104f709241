"""The alert side of the CLI: sending what is due after a crawl, `newswatch send` and
the dry-run preview."""

from __future__ import annotations

import argparse
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from alerts import health, outbox
from alerts.deliver import Report, deliver
from alerts.preview import Waiting, preview
from config.models import Config
from newswatch import tables
from rules.plaintext import for_terminal
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
    """The messages as their plain-text part reads, each line made safe for a terminal
    (what the part quotes from the page was cleaned when stored; older rows were not)."""
    for msg in messages:
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        out.write(for_terminal(f"\n--- To: {msg['To']}\n--- Subject: {msg['Subject']}\n{text}"))


def after_crawl(config: Config, dry_run: bool, out: TextIO, sources: list[str],
                send: bool = True, previews: list[Any] | None = None) -> bool:
    """Assess the sources' health and send (or, dry, print) the alerts a crawl produced;
    False if sending failed. Under the daemon (`send=False`) its sender does the sending."""
    if dry_run:
        waiting: Waiting = {}
        messages = preview(config, previews or [], utcnow(), waiting)
        tables.write(out, f"dry run: {len(messages)} email(s) would be sent, nothing was stored")
        tz = ZoneInfo(config.timezone)
        for (watch, digest, due), n in sorted(waiting.items()):
            tables.write(out, f"dry run: {n} alert(s) of {watch} would wait for its {digest} "
                              f"digest, due {due.astimezone(tz).strftime('%Y-%m-%d %H:%M %Z')}")
        print_messages(messages, out)
        return True
    store = Store.shared(config.database)
    for change in health.check(store, config, sources):
        tables.write(out, f"source {change.source} is now {change.state}: {change.reason} "
                          "(ops notified)")
    if not send:
        return True
    composed, report = send_due(config, store)
    tables.write(out, describe(report, composed, store, config))
    return not report.errors


def cmd_send(args: argparse.Namespace, config: Config, path: Path) -> int:
    store = Store.shared(config.database)
    if args.dry_run:
        made = outbox.compose(store, config, commit=False)
        pending = outbox.counts(store)["pending"]
        tables.write(sys.stdout, f"dry run: {len(made)} new email(s) would be composed; "
                                 f"{pending} already pending would be retried; nothing was sent")
        print_messages([m["message"] for m in made], sys.stdout)
        return EXIT_OK
    composed, report = send_due(config, store)
    tables.write(sys.stdout, describe(report, composed, store, config))
    return EXIT_FAILED if report.errors else EXIT_OK
