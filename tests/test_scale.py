"""What a crawl process keeps per source stays small and bounded (issue 24: 10,000
sources on one machine): robots.txt answers of hosts not polled lately are swept out,
and no spider class is made per source until one is asked for."""

from __future__ import annotations

import time
from pathlib import Path

from scrapy.utils.test import get_crawler
from twisted.internet.defer import Deferred

from newswatch.spiders.kinds import EngineSpider
from newswatch.spiders.politeness import ExpiringRobotsTxtMiddleware
from tests.conftest import write_config


def test_robots_answers_of_hosts_not_polled_lately_are_swept_out() -> None:
    crawler = get_crawler(EngineSpider, {"ROBOTSTXT_OBEY": True,
                                         "ROBOTSTXT_CACHE_SECONDS": 60})
    robots = ExpiringRobotsTxtMiddleware(crawler)
    now = time.monotonic()
    pending: Deferred[None] = Deferred()
    for netloc, age, parser in [("old.example:80", 120, None), ("older.example:80", 900, None),
                                ("fresh.example:80", 30, None),
                                ("asking.example:80", 120, pending)]:
        robots._parsers[netloc] = parser
        robots._fetched[netloc] = now - age
    robots._sweep(now)
    # a robots.txt still being fetched stays: its requests wait on it
    assert set(robots._parsers) == set(robots._fetched) == {"fresh.example:80",
                                                            "asking.example:80"}


def test_the_spider_loader_makes_a_sources_spider_only_when_asked(tmp_path: Path) -> None:
    from scrapy.settings import Settings

    from newswatch.config.loader import load_config
    from newswatch.spiders.loader import ConfigSpiderLoader

    sources = "".join(f"  - name: s{i}\n    feeds: [\"http://127.0.0.1:9/{i}.xml\"]\n"
                      for i in range(500))
    cfg = write_config(tmp_path, "sources:\n" + sources)
    before = len(EngineSpider.__subclasses__())
    loader = ConfigSpiderLoader.of(load_config(cfg))(Settings())
    assert len(EngineSpider.__subclasses__()) == before  # none made (nor kept)
    assert len(loader.list()) == 501 and loader.list()[0] == "newswatch"
    assert loader.load("newswatch") is EngineSpider
    assert loader.load("s499").sources == ["s499"]  # type: ignore[attr-defined]


def test_the_daemon_reads_the_last_runs_of_all_its_sources_at_once(tmp_path: Path) -> None:
    """At start, a source without a stored schedule that holds it back goes when its
    last run (read for every source in a few queries) says it is due: overdue ones at
    once, a never polled one at once, a recent one an interval after its last start."""
    from datetime import timedelta

    from sqlalchemy import update

    from newswatch.config.loader import load_config
    from newswatch.service.daemon import Daemon
    from newswatch.store import schema
    from newswatch.store.db import Store, utcnow

    cfg = write_config(tmp_path, """
        sources:
          - {name: never, feeds: ["http://127.0.0.1:9/a.xml"], every: 2m, every_max: 2m}
          - {name: overdue, feeds: ["http://127.0.0.1:9/b.xml"], every: 2m, every_max: 2m}
          - {name: recent, feeds: ["http://127.0.0.1:9/c.xml"], every: 2m, every_max: 2m}
          - {name: timed, feeds: ["http://127.0.0.1:9/d.xml"], cron: "0 * * * *"}
        """)
    config = load_config(cfg)
    store = Store(config.database)
    now = utcnow()
    for name, ago in (("overdue", 3600), ("overdue", 7200), ("recent", 30)):
        run = store.start_run(name)
        with store.tx() as conn:
            conn.execute(update(schema.runs).where(schema.runs.c.id == run)
                         .values(started=now - timedelta(seconds=ago)))
    store.close()
    daemon = Daemon(cfg, config)
    try:
        started = daemon._last_started()
        assert set(started) == {"overdue", "recent"}
        firsts = {s.name: daemon._first_run(s, now, started) for s in config.sources}
    finally:
        daemon.store.close()
        daemon.snapshot.unlink(missing_ok=True)
    soon = now + timedelta(seconds=1)
    for name in ("never", "overdue"):
        first = firsts[name]
        assert first is not None and now <= first <= soon
    assert firsts["recent"] == started["recent"] + timedelta(minutes=2)
    assert firsts["timed"] is None  # its cron decides
