"""One-off crawl: every (or the named) source's spider in one Scrapy process, with a
live progress table on a terminal and a summary row per source at the end."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from config.models import Config
from spiders.loader import ConfigSpiderLoader
from store.runs import run_counts, run_status

log = logging.getLogger(__name__)

COLUMNS = [("pages", "pages"), ("new_articles", "new"), ("too_old", "too old"),
           ("no_text", "no text"), ("known", "known"), ("matches", "matches"),
           ("alerts", "alerts"), ("errors", "errors")]


@dataclass
class SourceResult:
    name: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)


def scrapy_settings(config: Config, config_path: Path, dry_run: bool = False,
                    **extra: Any) -> Settings:
    settings = Settings()
    settings.setmodule("config.settings", priority="project")
    settings.set("NEWSWATCH_CONFIG", str(config_path), priority="cmdline")
    settings.set("SPIDER_LOADER_CLASS", ConfigSpiderLoader.of(config), priority="cmdline")
    settings.set("NEWSWATCH_DRY_RUN", dry_run, priority="cmdline")
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    for key, value in extra.items():
        settings.set(key, value, priority="cmdline")
    return settings


def _table(crawlers: list[tuple[str, Crawler]], finished: bool) -> Table:
    table = Table(title="newswatch crawl" + ("" if finished else " (running)"))
    table.add_column("source")
    table.add_column("result")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    for name, crawler in crawlers:
        stats = crawler.stats.get_stats() if crawler.stats else {}
        counts = run_counts(stats)
        result = run_status(counts) if finished else "running"
        table.add_row(name, result, *(str(counts[k]) for k, _ in COLUMNS))
    return table


def run_crawl(config: Config, config_path: Path, names: list[str] | None = None,
              dry_run: bool = False, console: Console | None = None,
              quiet: bool = False) -> list[SourceResult]:
    """Crawl the sources once; return a result per source (status ok or failed)."""
    sources = [s for s in config.sources if not names or s.name in names]
    live_view = console is not None and console.is_terminal
    settings = scrapy_settings(config, config_path, dry_run,
                               LOG_LEVEL="WARNING" if live_view or quiet else "INFO")
    level = logging.getLogger().level
    if quiet:
        # Scrapy re-levels its own loggers when it starts; the root handlers stay ours
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.WARNING)
    process = CrawlerProcess(settings)
    logging.getLogger().setLevel(level)  # Scrapy resets the root level; the CLI owns it
    crawlers: list[tuple[str, Crawler]] = []
    for source in sources:
        crawler = process.create_crawler(process.spider_loader.load(source.name))
        crawlers.append((source.name, crawler))
        process.crawl(crawler)
    logging.getLogger().setLevel(level)  # creating crawlers resets it too
    # Scrapy sets its own loggers to DEBUG, and records that pass a logger's level reach
    # the root handlers whatever the root's level: two lines per page, at a measurable
    # cost, unless the CLI asked for debug output
    logging.getLogger("scrapy").setLevel(level)
    if live_view:
        assert console is not None
        from twisted.internet import task

        with Live(_table(crawlers, False), console=console, refresh_per_second=4) as live:
            loop = task.LoopingCall(lambda: live.update(_table(crawlers, False)))
            loop.start(0.5, now=False)
            process.start()
    else:
        process.start()
    results = []
    for name, crawler in crawlers:
        stats = crawler.stats.get_stats() if crawler.stats else {}
        counts = run_counts(stats)
        reason = stats.get("finish_reason")
        status = run_status(counts) if reason == "finished" else "failed"
        results.append(SourceResult(name, status, counts))
    return results


def summary_table(results: list[SourceResult]) -> Table:
    table = Table(title="newswatch crawl")
    table.add_column("source")
    table.add_column("result")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    for r in results:
        table.add_row(r.name, r.status, *(str(r.counts.get(k, 0)) for k, _ in COLUMNS))
    return table


def print_summary(results: list[SourceResult], console: Console | None = None) -> None:
    console = console or Console(file=sys.stdout)
    console.print(summary_table(results))
