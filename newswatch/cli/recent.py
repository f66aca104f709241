"""`newswatch recent`: the latest matches and where their alerts stand, on the terminal;
`newswatch feed`: the Atom feed of a watch's matches (or of all watches) to a file or
standard output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from newswatch.alerts.transport import shown
from newswatch.cli import tables
from newswatch.config.models import Config
from newswatch.config.times import readable
from newswatch.config.units import parse_duration
from newswatch.exits import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:  # imported where used: every command builds the parser this module
    # adds to, and `check` needs neither the store nor SQLAlchemy
    from newswatch.alerts.schedule import Schedule
    from newswatch.store.recent import Recent

FEED_ENTRIES = 100


def _watches(config: Config, names: list[str] | None) -> list[str] | None:
    """The names asked for, checked against the config; None if one is unknown."""
    known = {w.name for w in config.watches}
    for name in names or []:
        if name not in known:
            print(f"newswatch: no watch {name!r} in the config (watches: "
                  f"{', '.join(sorted(known)) or 'none'})", file=sys.stderr)
            return None
    return names or []


def cmd_recent(args: argparse.Namespace, config: Config, path: Path) -> int:
    from newswatch.alerts.render import matched_terms, one_line
    from newswatch.alerts.schedule import Schedule
    from newswatch.store.db import Store, utcnow
    from newswatch.store.recent import Filters, mark_held, recent

    names = _watches(config, args.watch)
    if names is None:
        return EXIT_USAGE
    try:
        since = utcnow() - parse_duration(args.since)
    except ValueError as exc:
        print(f"newswatch: --since {args.since!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with Store(config.database) as store:
        found = recent(store, Filters(watches=names, since=since), limit=args.limit)
    mark_held(found, {w.name for w in config.watches if not w.enabled})
    tz = ZoneInfo(config.timezone)
    schedule, now = Schedule(config), utcnow()
    console = tables.console_for(sys.stdout)
    if not found:
        tables.say(console, f"no matches since {readable(since, tz)}")
        return EXIT_OK
    table = tables.table(f"matches since {readable(since, tz)}, newest "
                         f"first", ["article", "watch", "matched", "alerts"], numeric_from=9,
                         wrap=["article", "alerts"], drop=["matched"], wide=args.wide,
                         # a headline squeezed below this reads worse than a missing time
                         least={"article": 30})
    for m in found:
        title = one_line(m.title, 200) or "(no title)"
        terms = ", ".join(matched_terms(m.hits))
        sent = "\n".join(f"{shown(r)}: "
                         f"{waiting_state(schedule, m, r, state, now)}"
                         for r, state in sorted(m.alerts.items())) or "none"
        if m.duplicate_of is not None:
            sent = "none (a copy of a story already alerted)"
        published = f"published {readable(m.published, tz, 'unknown')}"
        table.add_row(f"{title}\n{m.source} · {published} · matched: {terms}", m.watch,
                      readable(m.matched_at, tz).replace(" ", "\n", 1), sent, url=m.url)
    tables.show(console, table)
    return EXIT_OK


def waiting_state(schedule: Schedule, m: Recent, recipient: str, state: str,
                  now: datetime) -> str:
    """An alert's state; for one waiting for its digest, when it will go."""
    if state != "waiting" or recipient not in m.waiting:
        return state
    digest, due, queued = m.waiting[recipient]
    _, due = schedule.of(m.watch, digest, due, queued, now)
    if due <= now:
        return "waiting, goes at the next send"
    return f"waiting, due {schedule.when(due)}"


def cmd_feed(args: argparse.Namespace, config: Config, path: Path) -> int:
    from newswatch.alerts import atom
    from newswatch.store.db import Store
    from newswatch.store.recent import Filters, recent

    names = _watches(config, [args.watch] if args.watch else None)
    if names is None:
        return EXIT_USAGE
    with Store(config.database) as store:
        found = recent(store, Filters(watches=names), limit=args.limit)
    body = atom.build(found, args.watch)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(body)
        return EXIT_OK
    out = Path(args.output)
    temp = out.with_name(f".{out.name}.tmp")
    temp.write_bytes(body)
    temp.replace(out)  # a reader polling the file never sees half a feed
    return EXIT_OK


def add_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """`recent` and `feed` on the CLI's parser (`add` makes a subcommand parser)."""
    p = add("recent", "the latest matches and what was sent")
    p.add_argument("--watch", action="append", metavar="NAME", help="only this watch")
    p.add_argument("--since", default="1d", help="how far back (default 1d)")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    tables.add_wide(p)
    p.set_defaults(func=cmd_recent)
    p = add("feed", "the Atom feed of a watch's matches, or of all watches")
    p.add_argument("watch", nargs="?", default=None, help="a watch (default: all)")
    p.add_argument("-o", "--output", default=None, help="write it here (default: stdout)")
    p.add_argument("--limit", type=int, default=FEED_ENTRIES,
                   help=f"the newest entries (default {FEED_ENTRIES})")
    p.set_defaults(func=cmd_feed)
