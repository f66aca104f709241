"""Two writers at once, on SQLite and on a real PostgreSQL server (where nothing makes
them take turns): storing the same article (under one URL, or each under the other's
variant) never makes two articles, two copies of one story matching one watch make one
alert, and two senders taking the same due alert compose and send it once (counted at
a real SMTP server). Each writer has its own Store (engine, connections); `Meet` holds
both at the statement where they would race, so that their transactions overlap there
whenever the database lets them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from newswatch.alerts import outbox
from newswatch.alerts.deliver import deliver
from newswatch.config.loader import load_config
from newswatch.config.models import Config
from newswatch.rules.matcher import Match
from newswatch.store.db import ArticleRecord, Store, utcnow
from newswatch.store.matches import Route
from tests.conftest import rows, run_cli, write_config
from tests.site.server import FixtureServer
from tests.smtp import SmtpServer
from tests.test_crawl import feed_and_sitemap_config
from tests.test_postgres import on_database

BASE = 0x5A5A_0F0F_3C3C_9696
WATCH = "council"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


class Meet:
    """Holds each writer before its first statement starting with `marker` until the
    other writer is there too. On SQLite (or wherever a writer cannot get there while
    the other is in its transaction) the wait ends after `wait` seconds and both go on;
    `met` tells whether they did meet."""

    def __init__(self, marker: str, wait: float = 3.0):
        self.marker = marker.upper()
        self.barrier = threading.Barrier(2, timeout=wait)
        self.met = False
        self.held = threading.local()

    def attach(self, store: Store) -> Store:
        @event.listens_for(store.engine, "before_cursor_execute")
        def _hold(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if getattr(self.held, "done", False) or \
                    not statement.lstrip().upper().startswith(self.marker):
                return
            self.held.done = True
            try:
                self.barrier.wait()
                self.met = True
            except threading.BrokenBarrierError:
                pass

        return store


def both(first: Callable[[], Any], second: Callable[[], Any]) -> list[Any]:
    """Run the two at once, each on a thread of its own; their results (or errors)."""
    out: list[Any] = [None, None]

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            out[i] = fn()
        except Exception as exc:  # the test asserts on it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in
               enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def record(key: str, aliases: tuple[str, ...] = (), fingerprint: int | None = None,
           matched: bool = False) -> ArticleRecord:
    slug = key.rsplit("/", 1)[1]
    return ArticleRecord(
        url=f"https://{key}", url_key=key, source="daily", title=slug.title(),
        text=f"The council met about {slug}.", aliases=aliases,
        fingerprint=None if fingerprint is None else f"{fingerprint:016x}",
        matches=(Match(WATCH, "council", [{"term": "council"}], []),) if matched else ())


def routes() -> dict[str, Route]:
    return {WATCH: Route(("desk@example.org",), "none", utcnow(), "newswatch.test")}


def writers(db: str, meet: Meet) -> tuple[Store, Store]:
    Store(db).close()  # the schema, made once before the two start
    return meet.attach(Store(db)), meet.attach(Store(db))


def test_two_writers_storing_one_article_store_it_once(db: str) -> None:
    meet = Meet("INSERT INTO articles")
    a, b = writers(db, meet)
    same = "daily.example/news/council-meets"
    got = both(lambda: a.add_articles([(record(same), None)]),
               lambda: b.add_articles([(record(same), None)]))
    assert not [g for g in got if isinstance(g, Exception)], got
    # one of them stored it, the other found it stored
    assert sorted(g[0] is None for g in got) == [False, True]
    assert rows(db, "select url_key from articles") == [(same,)]
    if db.startswith("postgresql"):
        assert meet.met  # both were past their lookup when they inserted: no lock
    a.close()
    b.close()


def test_an_article_stored_at_once_under_two_variants_is_one_article(db: str) -> None:
    """A page and its canonical URL, each writer finding the article under one and
    knowing the other as its variant."""
    meet = Meet("INSERT INTO articles")
    a, b = writers(db, meet)
    page, canonical = "daily.example/news/council?from=feed", "daily.example/news/council"
    got = both(lambda: a.add_articles([(record(page, aliases=(canonical,)), None)]),
               lambda: b.add_articles([(record(canonical, aliases=(page,)), None)]))
    assert not [g for g in got if isinstance(g, Exception)], got
    assert len(rows(db, "select id from articles")) == 1
    (article,), = rows(db, "select id from articles")
    assert sorted(rows(db, "select url_key, article_id from url_aliases")) == \
        sorted([(page, article), (canonical, article)])
    if db.startswith("postgresql"):
        assert meet.met
    a.close()
    b.close()


def test_two_copies_of_a_story_stored_at_once_alert_once(db: str) -> None:
    """Two outlets' copies of one wire story, each matching the watch, stored by two
    writers at once: one alert, the other copy recorded as its duplicate."""
    meet = Meet("SELECT")  # just after BEGIN: the lookups race too
    a, b = writers(db, meet)
    first = record("daily.example/news/wire-council", fingerprint=BASE, matched=True)
    copy = record("herald.example/news/wire-council", fingerprint=BASE ^ 0b10110,
                  matched=True)
    got = both(lambda: a.add_articles([(first, routes())]),
               lambda: b.add_articles([(copy, routes())]))
    assert not [g for g in got if isinstance(g, Exception)], got
    articles = rows(db, "select id, url_key, story_id from articles order by id")
    assert len(articles) == 2
    matches = rows(db, "select id, duplicate_of from matches order by id")
    assert len(matches) == 2
    assert matches[0][1] is None and matches[1][1] == matches[0][0]
    assert rows(db, "select count(*) from outbox") == [(1,)]
    assert {s for _, _, s in articles} == {articles[0][0]}  # one story
    a.close()
    b.close()


def test_the_story_index_finds_an_article_committed_after_a_later_one(
        postgres: Any) -> None:
    """On PostgreSQL, ids do not commit in order: an article whose transaction was still
    open when the index read past its id is found once it commits."""
    db = str(postgres.new_database())
    store = Store(db)
    slow = create_engine(db)
    with slow.connect() as conn, conn.begin():
        conn.execute(text(
            "insert into articles (url_key, url, source, first_seen, fingerprint, too_old, "
            "has_text) values ('daily.example/slow', 'https://daily.example/slow', 'daily', "
            "now(), :fp, false, true)"), {"fp": f"{BASE:016x}"})
        # later ids, committed first; the second's store reads the first into the index
        store.add_article(record("daily.example/quick", fingerprint=BASE ^ (2**63 - 1)))
        store.add_article(record("daily.example/quicker", fingerprint=BASE ^ (2**62 - 1)))
        assert store.stories.entries  # the index has read past the open one's id
    (slow_id,), = rows(db, "select id from articles where url_key = 'daily.example/slow'")
    copy_id = store.add_article(record("herald.example/copy", fingerprint=BASE ^ 0b111))
    assert rows(db, f"select story_id from articles where id = {copy_id}") == [(slow_id,)]
    slow.dispose()
    store.close()


def alerts_config(tmp_path: Path, db: str, smtp_port: int) -> Config:
    path = write_config(tmp_path, f"""
        sources:
          - name: daily
            feeds: ["http://127.0.0.1:9/feed.xml"]
        watches:
          - name: {WATCH}
            query: council
        alerts:
          from: "newswatch <alerts@newswatch.test>"
          to: [desk@example.org]
          smtp:
            host: 127.0.0.1
            port: {smtp_port}
            security: none
            timeout: 5s
        """)
    path.write_text(path.read_text().replace("database: nw.db", f'database: "{db}"', 1))
    return load_config(path)


def test_two_composers_put_a_due_alert_in_one_message(db: str, tmp_path: Path) -> None:
    config = alerts_config(tmp_path, db, 25)
    Store(db).add_article(record("daily.example/news/council", matched=True), routes())
    meet = Meet("INSERT INTO emails")
    a, b = meet.attach(Store(db)), meet.attach(Store(db))
    later = utcnow() + timedelta(seconds=1)
    got = both(lambda: outbox.compose(a, config, now=later),
               lambda: outbox.compose(b, config, now=later))
    assert not [g for g in got if isinstance(g, Exception)], got
    assert sorted(len(g) for g in got) == [0, 1]
    assert rows(db, "select count(*) from emails") == [(1,)]
    assert rows(db, "select count(*) from outbox where email_id is not null") == [(1,)]
    a.close()
    b.close()


def test_two_senders_send_a_due_alert_once(db: str, tmp_path: Path,
                                           smtp: SmtpServer) -> None:
    config = alerts_config(tmp_path, db, smtp.port)
    Store(db).add_article(record("daily.example/news/council", matched=True), routes())
    assert len(outbox.compose(Store(db), config, now=utcnow() + timedelta(seconds=1))) == 1
    meet = Meet("UPDATE emails SET status")  # both have read the pending email
    a, b = meet.attach(Store(db)), meet.attach(Store(db))
    got = both(lambda: deliver(a, config.alerts, force=True),
               lambda: deliver(b, config.alerts, force=True))
    assert not [g for g in got if isinstance(g, Exception)], got
    assert sorted(g.sent for g in got) == [0, 1]
    assert len(smtp.received) == 1
    assert rows(db, "select status from emails") == [("sent",)]
    a.close()
    b.close()


def test_a_crawl_whose_articles_the_database_refuses_says_why(
        fresh_site: FixtureServer, postgres: Any, tmp_path: Path) -> None:
    """The writer thread's failures reach the run and the user: a PostgreSQL that
    refuses every article (a trigger, as a full disk or a broken replica would) makes
    the source's run partial with the database's words, and no traceback."""
    url = str(postgres.new_database())
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "create function refuse() returns trigger language plpgsql as $$ begin "
            "raise exception 'articles are read-only today'; end $$"))
        conn.execute(text("create trigger refuse before insert on articles "
                          "for each row execute function refuse()"))
    engine.dispose()
    cfg = on_database(feed_and_sitemap_config(tmp_path, fresh_site), url)
    proc = run_cli("crawl", "-q", "--source", "daily", config=cfg)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "daily was read only in part" in proc.stdout
    assert "could not be stored: articles are read-only today" in proc.stdout
    (status, errors, message), = rows(url, "select status, errors, message from runs")
    assert status == "partial" and errors > 0
    assert "article(s) could not be stored: articles are read-only today" in message
    assert rows(url, "select count(*) from articles") == [(0,)]
