"""One-off crawl: every (or the named) source polled by one engine (one Scrapy
crawler, one extraction pool) in this process, with a live progress table on a
terminal and a summary row per source at the end."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from scrapy.crawler import Crawler

from newswatch.cli import tables
from newswatch.config.models import Config
from newswatch.pipeline.pool import ExtractionPool
from newswatch.service.engine import engine_process, scrapy_settings
from newswatch.spiders.board import run_counts
from newswatch.spiders.runtime import ListFeed, Runtime
from newswatch.store.db import Store

log = logging.getLogger(__name__)

COLUMNS = [("pages", "pages"), ("new_articles", "new"), ("too_old", "too\nold"),
           ("no_text", "no\ntext"), ("known", "known"), ("matches", "matches"),
           ("alerts", "alerts"), ("errors", "errors"), ("bad_links", "bad\nlinks")]
# what a narrow terminal leaves out, first named first: the counts that explain the
# others go before what happened (new articles, matches, alerts, errors)
SECONDARY = ["bad links", "too old", "known", "pages", "no text"]


@dataclass
class SourceResult:
    name: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None


def _results(feed: ListFeed, crawler: Crawler, names: list[str]) -> list[SourceResult]:
    """Each source as it stands: its outcome, else its running poll's counts, else
    waiting. The live table and the summary are both made of these."""
    done = {o.source: o for o in feed.outcomes}
    board = getattr(crawler, "newswatch_board", None)
    running = {p.name: p for p in (board.polls.values() if board is not None else [])}
    results = []
    for name in names:
        if name in done:
            o = done[name]
            results.append(SourceResult(name, o.status, o.counts, o.message))
        elif name in running:
            results.append(SourceResult(name, "running", run_counts(running[name].counts)))
        else:
            results.append(SourceResult(name, "waiting"))
    return results


def _table(results: list[SourceResult], finished: bool, wide: bool = False) -> tables.Table:
    table = tables.table("newswatch crawl" + ("" if finished else " (running)"),
                         ["source", "result", *(title for _, title in COLUMNS)],
                         drop=SECONDARY, wide=wide,
                         # the live table as wide as any state it may show: no column comes
                         # and goes as sources finish
                         least={} if finished else {"result": len("cancelled")})
    for r in results:
        table.add_row(r.name, r.status, *(str(r.counts.get(k, 0)) for k, _ in COLUMNS))
    return table


def run_crawl(config: Config, config_path: Path, names: list[str] | None = None,
              dry_run: bool = False, console: Console | None = None,
              quiet: bool = False, previews: list[Any] | None = None,
              wide: bool = False, store: Store | None = None,
              pool: ExtractionPool | None = None) -> list[SourceResult]:
    """Crawl the sources once, all in one engine (at most daemon.concurrent_sources at
    a time) writing to `store` (else a database of its own for the crawl), extracting
    in `pool` (else workers of its own); return a
    result per source (status ok, partial, failed or cancelled). A dry run adds what it
    would have queued to `previews`."""
    sources = [s.name for s in config.sources if not names or s.name in names]
    live_view = console is not None and console.is_terminal
    feed = ListFeed(sources, config.daemon.concurrent_sources)
    rt = Runtime(config, feed, dry_run, store=store)
    settings = scrapy_settings(config, config_path, rt, pool,
                               LOG_LEVEL="WARNING" if live_view or quiet else "INFO")
    if quiet:
        # Scrapy re-levels its own loggers when it starts; the root handlers stay ours
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.WARNING)
    process, crawler = engine_process(settings)
    if live_view:
        assert console is not None
        from twisted.internet import task

        def view() -> tables.Table:
            return _table(_results(feed, crawler, sources), False, wide)

        # transient: its last frame (still "running") gives way to the summary table
        with Live(view(), console=console, refresh_per_second=4, transient=True) as live:
            loop = task.LoopingCall(lambda: live.update(view()))
            loop.start(0.5, now=False)
            process.start()
    else:
        process.start()
    rt.close()
    if previews is not None:
        previews.extend(rt.dry_run_matches)
    results = _results(feed, crawler, sources)
    for r in results:
        if r.status not in ("ok", "partial", "failed", "cancelled"):
            r.status, r.message = "failed", "the crawl ended before this source was polled"
    return results


def summary_table(results: list[SourceResult], wide: bool = False) -> tables.Table:
    return _table(results, True, wide)


def print_summary(results: list[SourceResult], console: Console | None = None,
                  wide: bool = False) -> None:
    console = console or tables.console_for(sys.stdout)
    tables.show(console, summary_table(results, wide))
    for r in results:
        if r.message:  # why, under the source's name: each failed feed on its own line
            tables.say(console, f"{r.name}: {r.status}", "")
            for part in reasons(r.message):
                tables.say(console, f"  └ {part}", "    ")


def reasons(message: str) -> list[str]:
    """A run's message as its parts (spiders.failures.summary joins them with "; ")."""
    return [part for part in message.split("; ") if part]
