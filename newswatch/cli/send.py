"""The alert side of the CLI: sending what is due after a crawl, `newswatch send` (with
`--dry-run` and `--test`) and the dry-run preview."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from newswatch.alerts.transport import kinds
from newswatch.cli import tables
from newswatch.config.models import Config
from newswatch.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:  # the store and the senders are imported where used: every command
    # builds the parser this module adds to, and `check` needs neither (nor SQLAlchemy)
    from newswatch.alerts import outbox
    from newswatch.alerts.deliver import Report
    from newswatch.store.db import Store


def send_due(config: Config, store: Store, force: bool = True) -> tuple[list[outbox.Made],
                                                                        Report]:
    """Compose the due alerts into messages and deliver every pending one. A person who
    runs this by hand wants earlier failures retried now, hence `force`."""
    from newswatch.alerts import outbox
    from newswatch.alerts.deliver import deliver

    made = outbox.compose(store, config)
    return made, deliver(store, config.alerts, force=force)


def describe(report: Report, made: list[outbox.Made], store: Store, config: Config) -> str:
    """The summary after sending: messages per kind, the outbox, where emails go."""
    from newswatch.alerts import outbox
    from newswatch.alerts.registry import where

    c = outbox.counts(store, [w.name for w in config.watches if not w.enabled])
    sent = kinds(report.sent_to) if report.sent else "0"
    lines = [f"alerts: sent {sent}; retry later {report.retry}, failed {report.failed}",
             f"outbox: {len(made)} composed now; {c['pending']} pending, {c['failed']} "
             f"failed, {c['waiting']} waiting for a digest",
             f"emails: {where(config.alerts)}"]
    if report.errors:
        lines.append(f"  last error: {report.errors[-1]}")
    return "\n".join(lines)


def after_crawl(config: Config, store: Store, dry_run_: bool, out: TextIO, sources: list[str],
                previews: list[Any] | None = None) -> bool:
    """Assess the sources' health and send (or, dry, print) the alerts a crawl produced;
    False if sending failed."""
    from newswatch.alerts.preview import dry_run
    from newswatch.service import health
    from newswatch.store.db import utcnow

    if dry_run_:
        dry_run(config, store, utcnow(), out, previews or [])
        return True
    for change in health.check(store, config, sources):
        tables.write(out, f"source {change.source} is now {change.state}: {change.reason} "
                          "(ops notified)")
    made, report = send_due(config, store)
    tables.write(out, describe(report, made, store, config))
    return not report.errors


def cmd_send(args: argparse.Namespace, config: Config, path: Path) -> int:
    if args.test and args.dry_run:
        print("newswatch: --test sends a test message; it has no --dry-run",
              file=sys.stderr)
        return EXIT_USAGE
    if args.test:
        from newswatch.alerts.trial import send_tests

        names = [w.name for w in config.watches]
        if args.watch and args.watch not in names:
            print(f"newswatch: no watch {args.watch!r} in the config (watches: "
                  f"{', '.join(names) or 'none'})", file=sys.stderr)
            return EXIT_USAGE
        return EXIT_OK if send_tests(config, args.watch, sys.stdout) else EXIT_FAILED
    if args.watch:
        print("newswatch: --watch goes with --test (a real send sends every due alert)",
              file=sys.stderr)
        return EXIT_USAGE
    from newswatch.alerts.preview import dry_run
    from newswatch.store.db import Store, utcnow

    with Store(config.database) as store:
        if args.dry_run:
            dry_run(config, store, utcnow(), sys.stdout)
            return EXIT_OK
        made, report = send_due(config, store)
        tables.write(sys.stdout, describe(report, made, store, config))
        return EXIT_FAILED if report.errors else EXIT_OK


def add_command(add: Any) -> None:
    """`send` on the CLI's parser (`add` makes a subcommand parser)."""
    p = add("send", "deliver every pending alert now; --test: a test message")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent")
    p.add_argument("--test", action="store_true",
                   help="send a test message to every recipient and channel of the watch "
                        "(or of all watches) and print each server's answer; the outbox "
                        "is left alone")
    p.add_argument("--watch", metavar="NAME", help="with --test: only this watch's")
    p.set_defaults(func=cmd_send)
