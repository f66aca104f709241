"""A store a year old (issue 23): the daily prune and the counts of `status` and the
web view find their rows by index, so that their cost follows what they prune or show,
not every row kept since the start (the rows of pruned articles stay for their URLs
until retention.urls)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert

from newswatch.config.models import Retention
from newswatch.store import schema
from newswatch.store.db import Store
from newswatch.store.recent import Filters, count
from newswatch.store.retention import Pruner


def test_every_foreign_key_leads_an_index(tmp_path: Path) -> None:
    """Deleting a row SQLite checks every foreign key pointing at it: without an index
    whose first column is the key's, each check reads the whole referring table."""
    path = tmp_path / "nw.db"
    Store(f"sqlite:///{path}").close()  # the schema, by its migrations
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where "
                                            "type = 'table'")]
        checked = 0
        for table in tables:
            leading = {con.execute(f"pragma index_info('{ix[1]}')").fetchone()[2]
                       for ix in con.execute(f"pragma index_list('{table}')")}
            for fk in con.execute(f"pragma foreign_key_list('{table}')"):
                assert fk[3] in leading, f"{table}.{fk[3]} -> {fk[2]} has no index"
                checked += 1
        assert checked >= 5
    finally:
        con.close()


def _fill(store: Store, now: datetime) -> None:
    """Articles of 120 days (the older ones pruned, with their matches gone), their
    aliases and matches, a month of runs and emails."""
    articles, aliases, matches, runs, emails, outbox = [], [], [], [], [], []
    for i in range(1, 241):
        seen = now - timedelta(hours=12 * (241 - i))
        pruned = seen + timedelta(days=91) if seen < now - timedelta(days=91) else None
        articles.append({"id": i, "url_key": f"a.example/{i}", "url": f"https://a.example/{i}",
                         "source": f"s{i % 4}", "first_seen": seen, "pruned": pruned,
                         "text": None if pruned else "words " * 50, "fingerprint": f"{i:016x}"})
        aliases.append({"url_key": f"a.example/{i}", "article_id": i})
        if pruned is None and i % 5 == 0:
            matches.append({"id": i, "watch": "council", "article_id": i, "query": "council",
                            "hits": [], "snippets": [], "matched_at": seen,
                            "duplicate_of": matches[-1]["id"] if i % 10 == 0 and matches
                            else None})
            emails.append({"id": i, "recipient": "r@example.org", "digest": "immediate",
                           "message_id": f"<e{i}@t>", "subject": "s", "mime": b"m",
                           "status": "sent", "next_attempt": seen, "created": seen,
                           "sent": seen})
            outbox.append({"match_id": i, "recipient": "r@example.org",
                           "digest": "immediate", "due": seen, "message_id": f"<m{i}@t>",
                           "email_id": i, "created": seen})
    for hours in range(40 * 24, 0, -6):
        for source in ("s0", "s1", "s2", "s3"):
            runs.append({"source": source, "started": now - timedelta(hours=hours),
                         "status": "ok"})
    with store.tx() as conn:
        for table, rows in ((schema.articles, articles), (schema.url_aliases, aliases),
                            (schema.emails, emails), (schema.matches, matches),
                            (schema.outbox, outbox), (schema.runs, runs)):
            conn.execute(insert(table), rows)


TABLES = ("articles", "url_aliases", "matches", "outbox", "emails", "runs")


def _plans(path: Path, statements: list[tuple[str, Any]]) -> list[str]:
    """The lines of these statements' query plans, each with its statement."""
    con = sqlite3.connect(path)
    try:
        return [f"{row[-1]}: {' '.join(sql.split())[:160]}" for sql, params in statements
                for row in con.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    finally:
        con.close()


def test_the_prune_and_the_counts_read_by_index(tmp_path: Path) -> None:
    path = tmp_path / "nw.db"
    store = Store(f"sqlite:///{path}")
    now = datetime.now(UTC)
    _fill(store, now)
    seen: list[tuple[str, Any]] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    @event.listens_for(store.reader, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if statement.lstrip().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
            seen.append((statement, params))

    # urls: 100 days, so that the pruned articles' rows are forgotten too
    retention = Retention(urls=timedelta(days=100))
    dry = Pruner(store, retention, now, dry_run=True, pause=0).run()
    done = Pruner(store, retention, now, pause=0).run()
    assert done == dry and done.articles and done.matches and done.forgotten \
        and done.runs and done.emails, done
    pruning = list(seen)
    seen.clear()
    assert count(store, Filters()) > 0 and count(store, Filters(watches=["council"])) > 0
    counting = list(seen)
    store.close()
    assert pruning and counting
    # no table read whole (the names of the sources come from a recursive CTE's scan),
    # nor the articles walked in id order from the oldest, pruned or not
    plans = _plans(path, pruning)
    assert [line for line in plans if line.startswith(tuple(f"SCAN {t}" for t in TABLES))
            or line.startswith("SEARCH articles USING INTEGER PRIMARY KEY (rowid>")] == []
    # the articles to prune found among those not pruned yet, not among all by age
    assert any("USING INDEX ix_articles_kept_first_seen" in line for line in plans)
    # the matches counted from their own indexes: no article read for each
    assert [line for line in _plans(path, counting) if "articles" in line.split(":")[0]] \
        == []
