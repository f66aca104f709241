"""The `newswatch` command line. Exit codes: 0 ok; 1 a source failed, a message was not
delivered, the database cannot be used or something unexpected happened; 2 bad config or
usage; 130 interrupted (each command's own: README.md, "Exit codes")."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console

from newswatch import __version__
from newswatch.alerts.transport import shown
from newswatch.cli import recent, send, tables, upkeep
from newswatch.config.loader import ConfigError, config_warnings, default_config_path, load_config
from newswatch.config.models import Config
from newswatch.config.private import append_private, mask_url, private_dir, state_dir
from newswatch.config.times import readable
from newswatch.config.units import format_duration
from newswatch.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from newswatch.rules.plaintext import for_terminal

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

    from newswatch.store.db import Store
    from newswatch.store.migrate import SchemaBehind

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def cmd_check(args: argparse.Namespace, config: Config, path: Path) -> int:
    out = Console(file=sys.stdout, highlight=False, soft_wrap=True, markup=False)
    found = config_warnings(path, config)
    out.print(f"config {path}: OK" + (f", {len(found)} warning(s):" if found else ""))
    for issue in found:
        out.print(f"  warning: {issue}")
    out.print(f"database: {mask_url(config.database)}")
    if config.queue is not None:
        out.print(f"queue: {mask_url(config.queue)}")
    out.print(f"timezone: {config.timezone}")
    for src in config.sources:
        opts = src.crawl(config.crawl)
        kinds = [k for k in ("feeds", "sitemaps", "pages") if getattr(src, k)]
        if src.site:
            kinds.append("site")
        window = format_duration(opts.max_age) if opts.max_age else "none"
        out.print(f"source {src.name}: {', '.join(kinds)}; {len(src.start_urls())} URL(s); "
                  f"{src.schedule}; max_age {window}; robots {'on' if opts.obey_robots else 'off'}")
    lines = []
    for watch in config.watches:
        if not watch.enabled:
            lines.append(f"watch {watch.name}: {watch.query}  -> disabled: its matches are "
                         "stored, no alerts are queued, and alerts queued before are held "
                         "until it is enabled again")
            continue
        to = ", ".join(shown(r) for r in config.recipients(watch)) or "(no recipients)"
        lines.append(f"watch {watch.name}: {watch.query}  -> {to} ({watch.digest})")
    if lines:  # written as they are: rich's line splitting took a second for 10,000
        out.file.write(for_terminal("\n".join(lines)) + "\n")
    if config.alerts.smtp or config.alerts.maildir:
        from newswatch.alerts.registry import where

        out.print(f"alerts: {where(config.alerts)}")
    else:
        out.print("alerts: no delivery configured (alerts stay in the outbox)")
    return EXIT_OK


def cmd_crawl(args: argparse.Namespace, config: Config, path: Path) -> int:
    known = {s.name for s in config.sources}
    unknown = [n for n in args.source or [] if n not in known]
    if unknown:
        print(f"newswatch: unknown source(s): {', '.join(unknown)}; "
              f"configured: {', '.join(sorted(known)) or 'none'}", file=sys.stderr)
        return EXIT_USAGE
    if not config.sources:
        print("newswatch: the config has no sources", file=sys.stderr)
        return EXIT_USAGE
    # an unusable database is one line now, not a crawl's worth later; the crawl and
    # the sending after it share it
    from newswatch.store.db import Store

    with Store(config.database) as store:
        return _crawl(args, config, path, store)


def _crawl(args: argparse.Namespace, config: Config, path: Path, store: Store) -> int:
    from newswatch.pipeline.pool import crawl_pool

    # started before the crawl imports Scrapy (the workers' warm-up overlaps it), unless
    # every listing was read before: then when the first article request is sent
    with crawl_pool(store, [s for s in config.sources
                            if not args.source or s.name in args.source]) as pool:
        from newswatch.cli.crawl import print_summary, run_crawl

        console = tables.console_for(sys.stdout)
        previews: list[Any] = []
        results = run_crawl(config, path, args.source, args.dry_run,
                            None if args.quiet else console, previews=previews,
                            wide=args.wide, store=store, pool=pool)
    if args.quiet:
        for r in results:
            if r.status == "failed":
                why = r.message or "no feed, sitemap or listing page could be read"
                print(f"newswatch: source {r.name} failed: {why}")
            elif r.status == "partial":
                print(f"newswatch: source {r.name} was read only in part: {r.message}")
    else:
        print_summary(results, console, args.wide)
    # sending never blocks crawling: it runs after, and a failure leaves the outbox full
    sent = send.after_crawl(config, store, args.dry_run,
                            io.StringIO() if args.quiet else sys.stdout,
                            [r.name for r in results], previews=previews)
    if args.quiet and not sent:
        print("newswatch: some alerts could not be sent; they stay in the outbox "
              "(`newswatch status` says why)")
    return EXIT_FAILED if any(r.status == "failed" for r in results) else EXIT_OK


def cmd_worker(args: argparse.Namespace, config: Config, path: Path) -> int:
    if args.stdio:
        from newswatch.service.local.worker import run_worker

        return run_worker(config, path)
    if config.queue is None:
        print(f"newswatch: a worker takes polls from a shared queue, and {path} sets no "
              "`queue:` (a PostgreSQL URL); without one, `newswatch run` starts and "
              "supervises its own crawl worker", file=sys.stderr)
        return EXIT_USAGE
    from newswatch.service.cluster.worker import run_queue_worker

    return run_queue_worker(config, path)


def _web(args: argparse.Namespace, config: Config, path: Path) -> int:
    from newswatch.web.app import cmd_web

    return cmd_web(args, config, path)


def _later(module: str, name: str) -> Callable[[argparse.Namespace, Config, Path], int]:
    """A command whose module is imported when it runs: the store and SQLAlchemy cost
    a command that needs neither (`check`) most of its time."""
    def command(args: argparse.Namespace, config: Config, path: Path) -> int:
        from importlib import import_module

        run: Callable[[argparse.Namespace, Config, Path], int] = getattr(
            import_module(f"newswatch.cli.{module}"), name)
        return run(args, config, path)
    return command


def _schema_behind() -> type[SchemaBehind]:
    from newswatch.store.migrate import SchemaBehind

    return SchemaBehind


def _database_error() -> type[DBAPIError]:
    from sqlalchemy.exc import DBAPIError

    return DBAPIError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newswatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"newswatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("-c", "--config", type=Path, default=None,
                       help="config file (default: $NEWSWATCH_CONFIG or config/newswatch.yaml)")
        p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        return p

    p = add("crawl", "crawl all (or the named) sources once")
    p.add_argument("--source", action="append", metavar="NAME", help="only this source")
    p.add_argument("--dry-run", action="store_true",
                   help="store nothing, send nothing; print the emails it would send")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only what failed (for cron): no table, no alert summary")
    tables.add_wide(p)
    p.set_defaults(func=cmd_crawl)
    p = add("worker", "a crawl worker: polls sources from the shared queue (`queue:`)")
    p.add_argument("--stdio", action="store_true",
                   help="take polls from standard input (how `newswatch run` runs its worker)")
    p.set_defaults(func=cmd_worker)
    p = add("run", "the daemon: every source on its own schedule until SIGINT/SIGTERM")
    p.set_defaults(func=None)
    send.add_command(add)
    p = add("status", "sources, watches and the outbox")
    p.add_argument("--source", metavar="NAME",
                   help="one source: its health, last run, next poll and why")
    tables.add_wide(p)
    p.set_defaults(func=_later("status", "cmd_status"))
    recent.add_commands(add)
    upkeep.add_commands(add)
    p = add("web", "a read-only web view of matches, sources and the outbox")
    p.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    p.add_argument("--no-token", action="store_true",
                   help="no token (127.0.0.1 only): anyone who can reach it reads it")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=_web)
    p = sub.add_parser("schema", help="print the JSON Schema of the config file (for editors)")
    p.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    p = sub.add_parser("demo", help="crawl a demo news site on 127.0.0.1 and write the "
                                    "alert emails to a maildir")
    p.add_argument("--dir", type=Path, default=Path("data") / "demo",
                   help="where the demo keeps its config, database and maildir "
                        "(default: data/demo)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=None)
    p = add("check", "validate the config and print what it would do")
    p.set_defaults(func=cmd_check)
    p = add("match", "explain, per watch, whether one page matches and why")
    p.add_argument("page", metavar="URL|FILE", help="an http(s) URL or a saved .html file")
    p.add_argument("--watch", action="append", metavar="NAME", help="only this watch")
    p.set_defaults(func=_later("explain", "cmd_match"))
    p = add("backtest", "run watches over stored articles; sends nothing")
    p.add_argument("--watch", action="append", metavar="NAME", help="only this watch")
    p.add_argument("--query", metavar="Q", help="try a query that is not in the config")
    p.add_argument("--since", default="30d", metavar="AGE",
                   help="articles first seen within this age (default 30d; 'all' for all)")
    tables.add_wide(p)
    p.set_defaults(func=_later("explain", "cmd_backtest"))
    return parser


class _StartupNoise(logging.Filter):
    LOGGERS = ("scrapy.utils.log", "scrapy.middleware", "scrapy.crawler", "scrapy.addons",
               "scrapy.extensions.telnet", "scrapy.statscollectors", "scrapy.core.engine",
               "scrapy.extensions.logstats")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith(self.LOGGERS)


class _FetchNoise(logging.Filter):
    """A site that is down is not a bug: Scrapy's own reports of a failed download
    (retries given up, robots.txt not fetched, a response ignored, a size limit; some
    with a traceback) repeat what newswatch says of each failed fetch with its cause, so
    they are left out, and no other Scrapy or Twisted record brings its traceback (one
    line instead). -v shows everything."""

    DROPPED = ("scrapy.downloadermiddlewares.retry", "scrapy.downloadermiddlewares.robotstxt",
               "scrapy.spidermiddlewares.httperror", "scrapy.core.downloader.handlers")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(self.DROPPED):
            return False
        if record.name == "scrapy.core.scraper" and str(record.msg).startswith(
                "Error downloading"):
            return False
        if record.exc_info and record.name.startswith(("scrapy", "twisted")):
            exc = record.exc_info[1]
            said = record.getMessage() + (f" ({type(exc).__name__}: {exc})" if exc else "")
            record.msg, record.args = " ".join(said.split())[:500], None
            record.exc_info, record.exc_text = None, None
        return True


class _QueueNoise(logging.Filter):
    """The queue library's own reports of a lost connection come as tracebacks, once per
    try: one line each, and a repeat of the last one not at all (our own lines say when
    the queue fails and when it works again). SQLAlchemy's pool reports a connection it
    could not reset or close, while the database restarts, the same way."""

    LOGGERS = ("procrastinate", "psycopg", "sqlalchemy.pool")

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LOGGERS):
            return True
        said = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            cause = exc.__cause__ or exc.__context__
            said += f": {cause or exc}"
        # some of its messages carry a formatted traceback of their own (a job's
        # exception as text): the line before it says what happened
        said = said.split("Traceback (most recent call last)")[0]
        if record.exc_info or "\n" in record.getMessage():
            record.msg, record.args = " ".join(said.split())[:300], None
            record.exc_info, record.exc_text = None, None
        repeated = self.last.get(record.name) == said
        self.last[record.name] = said
        return not repeated


def error_log() -> Path:
    """Where an unexpected error's full report goes."""
    return state_dir() / "error.log"


def guarded(args: argparse.Namespace, call: Callable[[], int]) -> int:
    """Run a command; a failure it did not expect is one line on the terminal (what,
    and where the full report went) and exit 1, never a traceback, unless -v asks."""
    try:
        return call()
    except KeyboardInterrupt:
        print("newswatch: interrupted", file=sys.stderr)
        return 130
    # the classes are imported only when something failed (an except clause is evaluated
    # when an exception reaches it): `check` never imports the store or SQLAlchemy
    except _schema_behind() as exc:  # a shared database waits for `newswatch migrate`
        print(f"newswatch: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except _database_error() as exc:  # unreachable, refusing, read-only, full, corrupt
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"newswatch: the database cannot be used: {reason} (check `database:` in "
              "the config, and that the server runs and the file or folder is writable)",
              file=sys.stderr)
        log.debug("database error", exc_info=True)
        return EXIT_FAILED
    except Exception as exc:
        report = error_log()
        where = f"-v prints it here; the full report is in {report}"
        try:
            private_dir(report.parent)
            append_private(report, f"--- {datetime.now(UTC).isoformat()} newswatch "
                                   f"{' '.join(sys.argv[1:])}\n{traceback.format_exc()}\n")
        except OSError:
            where = "-v prints the full report"
        print(f"newswatch: unexpected error: {type(exc).__name__}: {exc} ({where})",
              file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return EXIT_FAILED


class _LocalTimes(logging.Formatter):
    """Log lines stamped in the config's timezone with its abbreviation; UTC, labelled,
    until the config is read."""

    def __init__(self, fmt: str):
        super().__init__(fmt)
        self.tz: tzinfo = UTC

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # milliseconds as logging writes them (`12:00:01,250`), before the zone
        stamp = readable(datetime.fromtimestamp(record.created, UTC), self.tz, to="second")
        clock, _, zone = stamp.rpartition(" ")
        return f"{clock},{int(record.msecs):03d} {zone}"


def _log_times_in(stamps: _LocalTimes, timezone: str) -> None:
    """From now on the log's times are in this zone (the config's)."""
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        stamps.tz = ZoneInfo(timezone)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    # services log what they do; a command run by hand prints its result, and its log
    # only on -v (a crawl's failed sources are in its table, with why)
    if args.verbose:
        level = logging.DEBUG
    elif args.command in ("run", "worker"):
        level = logging.INFO
    elif args.command in ("crawl", "match"):
        level = logging.ERROR
    else:
        level = logging.WARNING
    logging.basicConfig(level=level, format=LOG_FORMAT)
    # Scrapy sets its own loggers' levels when a crawler starts, so the handlers filter:
    # nothing under the level chosen here, and none of Scrapy's start-up report (versions,
    # settings, component lists) but on -v
    if not args.verbose:
        # extraction workers print nothing of their own (pipeline.warmup.quiet_stderr)
        os.environ.setdefault("NEWSWATCH_QUIET_WORKERS", "1")
    if not args.verbose:  # procrastinate says "Adding tasks" on every reconnection
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        # a warning per failed reconnection: ours say once that the database is away
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    stamps = _LocalTimes(LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(stamps)
        handler.setLevel(level)
        handler.addFilter(_QueueNoise())
        if not args.verbose:
            handler.addFilter(_StartupNoise())
            handler.addFilter(_FetchNoise())
    if args.command == "schema":
        import json

        from newswatch.config.models import json_schema

        print(json.dumps(json_schema(), indent=2))
        return EXIT_OK
    if args.command == "demo":
        from newswatch.cli.demo.run import run_demo

        return guarded(args, lambda: run_demo(args.dir, sys.stdout))
    try:
        path: Path = args.config or default_config_path()
    except ConfigError as exc:  # none named, none at the default path
        exc.report(sys.stderr)
        return EXIT_USAGE
    if args.command == "run":
        from newswatch.service.daemon import run_daemon

        # the daemon reads its config itself (and says what is wrong with it): here only
        # its timezone, for the log
        with contextlib.suppress(ConfigError, OSError):
            _log_times_in(stamps, load_config(path).timezone)

        return guarded(args, lambda: run_daemon(path))
    try:
        config = load_config(path)
    except ConfigError as exc:
        exc.report(sys.stderr)
        return EXIT_USAGE
    _log_times_in(stamps, config.timezone)
    return guarded(args, lambda: int(args.func(args, config, path)))


def run() -> NoReturn:
    """The console script: main(), then a quick exit. Python's own teardown frees every
    object of Scrapy, SQLAlchemy and lxml one by one, 0.4 s measured after every crawl,
    for a process that is about to end anyway. So: close the databases, run the atexit
    handlers (logging, multiprocessing's temporary files), flush, and leave (each command
    closed the database it opened)."""
    code = main()
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)  # a thread still runs: the interpreter's shutdown winds it down
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

