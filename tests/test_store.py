"""The store's batched writes, on SQLite and on a real PostgreSQL server: a batch stores
what one transaction per article would, the crawl's store step writes a batch when its
delay runs out or its spider closes, and an article the database refuses costs only
itself."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from scrapy.utils.test import get_crawler
from sqlalchemy import text

from newswatch.config.loader import load_config
from newswatch.pipeline.store import StorePipeline
from newswatch.spiders.items import ArticlePage
from newswatch.spiders.kinds import EngineSpider
from newswatch.spiders.poll import Poll, PollOrder
from newswatch.spiders.runtime import ListFeed, Runtime
from newswatch.store.db import ArticleRecord, Store
from tests.conftest import rows

BASE = 0x0F0F_3C3C_A5A5_9999


def record(slug: str, fingerprint: int | None = None, aliases: tuple[str, ...] = (),
           title: Any = None) -> ArticleRecord:
    return ArticleRecord(url=f"https://daily.example/{slug}", url_key=f"daily.example/{slug}",
                         source="daily", title=title or slug.title(), text=f"Text of {slug}.",
                         fingerprint=None if fingerprint is None else f"{fingerprint:016x}",
                         aliases=aliases)


def test_a_batch_stores_what_one_transaction_each_would(db: str) -> None:
    store = Store(db)
    earlier = store.add_article(record("earlier"))
    near_copy = BASE ^ 0b1011  # three bits from BASE: the same story
    ids = store.add_articles([
        (record("first", BASE, aliases=("daily.example/first?amp=1",)), None),
        (record("second", 0xFFFF_0000_1234_5678), None),
        (record("first", BASE, aliases=("m.daily.example/first",)), None),  # again
        (record("wire-copy", near_copy), None),
        (record("earlier", aliases=("daily.example/earlier?ref=x",)), None),
    ])
    store.close()
    first, second, again, copy, stored_before = ids
    assert first and second and copy and earlier
    assert again is None and stored_before is None
    assert rows(db, "select count(*) from articles") == [(4,)]
    # every variant points at its article, the ones seen again in the batch included
    assert dict(rows(db, "select url_key, article_id from url_aliases")) == {
        "daily.example/earlier": earlier, "daily.example/earlier?ref=x": earlier,
        "daily.example/first": first, "daily.example/first?amp=1": first,
        "m.daily.example/first": first, "daily.example/second": second,
        "daily.example/wire-copy": copy}
    # the copy found the story of an article stored in the same batch, not yet committed
    # when it was looked for, and that article became the story's root
    stories = dict(rows(db, "select id, story_id from articles"))
    assert stories[copy] == first and stories[first] == first
    assert stories[second] is None


def test_a_story_spans_batches(db: str) -> None:
    store = Store(db)
    (root,) = store.add_articles([(record("root", BASE), None)])
    (copy,) = store.add_articles([(record("copy", BASE ^ 0b1), None)])
    store.close()
    assert dict(rows(db, "select id, story_id from articles")) == {root: root, copy: root}


def pipeline_for(tmp_path: Path, db: str) -> StorePipeline:
    cfg = tmp_path / "newswatch.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        database: "{db}"
        sources:
          - name: daily
            feeds: ["https://daily.example/feed.xml"]
        """), encoding="utf-8")
    config = load_config(cfg)
    assert config.database == db
    rt = Runtime(config, ListFeed([]))
    pipe = StorePipeline.from_crawler(get_crawler(EngineSpider, {"NEWSWATCH_RUNTIME": rt}))
    source = config.sources[0]
    POLLS[pipe] = Poll(PollOrder("daily"), source, source.crawl(config.crawl),
                       deadline=time.monotonic() + 60)
    return pipe


POLLS: dict[StorePipeline, Poll] = {}


def page(slug: str, title: str | None = None, pipe: StorePipeline | None = None
         ) -> ArticlePage:
    url = f"https://daily.example/news/{slug}"
    return ArticlePage(source="daily", url=url, request_url=url, body=b"",
                       extracted={"title": title or slug, "text": f"All about {slug}."},
                       poll=POLLS[pipe] if pipe is not None else None)


def test_an_article_the_database_refuses_costs_only_itself(tmp_path: Path, db: str) -> None:
    pipe = pipeline_for(tmp_path, db)
    refused = page("refused", pipe=pipe)
    assert refused.extracted is not None
    refused.extracted["title"] = {"not": "text"}  # no database column takes a dict


    async def crawl() -> None:
        for item in (page("one", pipe=pipe), refused, page("two", pipe=pipe)):
            pipe.process_item(item)
        assert rows(db, "select count(*) from articles") == [(0,)]  # waiting for the batch
        await pipe.close_spider()

    asyncio.run(crawl())
    stored = {r[0].rsplit("/", 1)[1] for r in rows(db, "select url from articles")}
    assert stored == {"one", "two"}
    counts = POLLS[pipe].counts
    assert counts["new_articles"] == 2 and counts["errors"] == 1
    # its run will say why (the board makes a run with store errors partial)
    assert len(POLLS[pipe].store_errors) == 1
    pipe.rt.store.close()


def test_a_batch_is_written_when_its_delay_runs_out(tmp_path: Path, db: str) -> None:
    pipe = pipeline_for(tmp_path, db)

    async def crawl_moment() -> list[tuple[Any, ...]]:
        pipe.process_item(page("waiting", pipe=pipe))
        before = rows(db, "select count(*) from articles")
        await asyncio.sleep(pipe.BATCH_DELAY + 0.25)
        assert pipe.pending == [] and pipe.timer is None  # handed to the writer thread
        drained = pipe.drained()
        if drained is not None:
            await drained
        return before + rows(db, "select count(*) from articles")

    assert asyncio.run(crawl_moment()) == [(0,), (1,)]
    assert pipe.pending == [] and pipe.timer is None
    pipe.rt.store.close()


def test_sqlite_writers_take_turns(tmp_path: Path) -> None:
    """On SQLite, two processes writing at once (a crawl and `newswatch send`, say) take
    turns: a write transaction waits until the open one has committed, and reads do not
    wait. (PostgreSQL's writers do not: tests/test_writers.py shows what keeps them from
    storing or sending anything twice.)"""
    db = f"sqlite:///{tmp_path / 'nw.db'}"
    first, second = Store(db), Store(db)
    order: list[str] = []

    def write_later() -> None:
        with second.tx() as conn:
            order.append("second began")
            conn.execute(text("update runs set status = status"))
        order.append("second committed")

    with first.tx() as conn:
        conn.execute(text("update runs set status = status"))
        order.append("first began")
        other = threading.Thread(target=write_later)
        other.start()
        other.join(timeout=1.0)
        assert other.is_alive()  # waiting for the write lock
        # reads do not wait
        assert second.known_keys(["daily.example/none"]) == set()
        order.append("first committing")
    other.join(timeout=30)
    first.close()
    second.close()
    assert order == ["first began", "first committing", "second began", "second committed"]


def test_an_article_is_too_old_only_if_every_date_known_of_it_is() -> None:
    from datetime import UTC, datetime, timedelta

    from newswatch.pipeline.store import record_for

    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    window = timedelta(days=3)

    def aged(page_date: str | None, feed_date: datetime | None) -> bool:
        item = ArticlePage(source="daily", url="https://daily.example/a", request_url="x",
                           body=b"", feed_date=feed_date,
                           extracted={"title": "t", "text": "words", "date": page_date})
        return record_for(item, now, window).too_old

    # found in bench/scale.py: htmldate took "outlet 1997" in a headline for the date
    assert not aged("1997-01-01T00:00:00+0000", now - timedelta(hours=1))
    assert aged("1997-01-01T00:00:00+0000", None)
    assert aged("2026-11-01T00:00:00+0000", now - timedelta(days=20))
    assert not aged("2026-11-30T08:00:00+0000", None)
    assert not aged(None, None)


def test_an_older_database_gets_the_columns_added_since(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)  # the runs table as it was before bad_links
    con.execute("create table runs (id integer primary key, source varchar(64) not null, "
                "started datetime not null, finished datetime, duration float, pages int, "
                "new_articles int, too_old int, no_text int, known int, matches int, "
                "errors int, links int, status varchar(16) not null, message text)")
    con.execute("insert into runs (source, started, status) values "
                "('old', '2026-01-01 00:00:00', 'ok')")
    con.commit()
    con.close()
    store = Store(f"sqlite:///{db}")
    run = store.start_run("new")
    store.finish_run(run, "ok", {"pages": 1, "bad_links": 2})
    assert {r["source"]: r["bad_links"] for r in store.runs()} == {"new": 2, "old": 0}
    store.close()
