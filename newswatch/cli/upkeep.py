"""Keeping a store healthy for years (SPEC §13): `newswatch migrate` (the schema's
revisions, ours and the queue's), `newswatch prune [--dry-run]` (retention) and
`newswatch backup FILE` (a consistent copy of a SQLite store, safe while the daemon
runs)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from newswatch.cli import tables
from newswatch.config.models import Config
from newswatch.config.private import FILE_MODE, mask_url
from newswatch.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE

# the store (and SQLAlchemy) are imported in the commands: every command builds the
# parser this module adds to, and `check` needs neither


def cmd_prune(args: argparse.Namespace, config: Config, path: Path) -> int:
    from newswatch.store.db import Store, utcnow
    from newswatch.store.retention import prune, window

    r = config.retention
    with Store(config.database) as store:
        done = prune(store, r, utcnow(), dry_run=args.dry_run)
    out = sys.stdout
    tables.write(out, f"retention: articles {window(r.articles)}, runs {window(r.runs)}, "
                 f"alerts {window(r.alerts)}, urls {window(r.urls)}")
    lines = [
        f"articles: {done.articles} first seen over {window(r.articles)} ago "
        f"{'would lose' if args.dry_run else 'lost'} their text and {done.matches} "
        "match(es); their URLs are kept, so they are never fetched or alerted again",
        f"URLs: {done.forgotten} pruned article(s) first seen over {window(r.urls)} ago "
        f"{'would be' if args.dry_run else 'were'} forgotten",
        f"runs: {done.runs} older than {window(r.runs)} {'would be' if args.dry_run else 'were'}"
        " deleted (each source keeps its last 20)",
        f"alerts: {done.emails} sent or failed email(s) older than {window(r.alerts)} "
        f"{'would be' if args.dry_run else 'were'} deleted",
    ]
    jobs = 0
    if config.queue is not None:
        from newswatch.service.cluster import database

        jobs = database.prune_jobs(config.queue, r.runs, dry_run=args.dry_run)
        lines.append(f"queue: {jobs} finished or failed job(s) older than "
                     f"{window(database.jobs_window(r.runs))} "
                     f"{'would be' if args.dry_run else 'were'} deleted")
    for line in lines:
        tables.write(out, "  " + line)
    if args.dry_run:
        print("dry run: nothing was deleted")
    elif not done and not jobs:
        print("nothing was old enough to prune")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace, config: Config, path: Path) -> int:
    from sqlalchemy.engine import make_url

    url = make_url(config.database)
    if url.get_backend_name() != "sqlite" or not url.database:
        print("newswatch: backup copies a SQLite database; for PostgreSQL use pg_dump "
              "(see the README's Backups)", file=sys.stderr)
        return EXIT_USAGE
    source = Path(url.database)
    if not source.exists():
        print(f"newswatch: no database at {source} yet", file=sys.stderr)
        return EXIT_FAILED
    target = Path(args.file)
    if target.exists():
        print(f"newswatch: {target} exists; give a new file name", file=sys.stderr)
        return EXIT_USAGE
    temp = target.with_name(f".{target.name}.partial")
    temp.unlink(missing_ok=True)
    # SQLite's online backup: a consistent copy while crawls and the sender write
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as src, \
            closing(sqlite3.connect(temp)) as dst:
        src.backup(dst, pages=1024, sleep=0.01)
    temp.chmod(FILE_MODE)
    temp.replace(target)
    size = target.stat().st_size
    tables.write(sys.stdout, f"backup of {source} written to {target} ({size / 1e6:.1f} MB); "
                 "restore by stopping newswatch and copying it back in place of the database")
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace, config: Config, path: Path) -> int:
    from newswatch.store import migrate
    from newswatch.store.db import make_engine

    engine = make_engine(config.database)
    try:
        revision, used = migrate.state(engine)
        applied = migrate.upgrade(engine)
        where = mask_url(config.database)
        if applied:
            print(f"database {where}: schema {revision or ('from before 0.2.0' if used else 'new')}"
                  f" -> {migrate.head()} (applied {', '.join(applied)})")
        else:
            print(f"database {where}: schema {migrate.head()}, up to date")
    finally:
        engine.dispose()
    if config.queue is not None:
        from newswatch.service.cluster import database

        queue = database.make_engine(config.queue)
        try:
            files = database.migrate_queue(queue)
        finally:
            queue.dispose()
        done = f"applied {', '.join(files)}" if files else "up to date"
        print(f"queue {database.where(config.queue)}: procrastinate "
              f"{database.procrastinate_version()}, {done}")
    return EXIT_OK


def add_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("migrate", "bring the database's schema (and the queue's) up to date")
    p.set_defaults(func=cmd_migrate)
    p = add("prune", "delete what the retention settings no longer keep")
    p.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    p.set_defaults(func=cmd_prune)
    p = add("backup", "copy the SQLite database to FILE (safe while newswatch runs)")
    p.add_argument("file", metavar="FILE", help="the new file to write")
    p.set_defaults(func=cmd_backup)
