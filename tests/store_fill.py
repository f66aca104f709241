"""A store filled in bulk, for the web view's paging test and bench/web.py: N articles
from 50 sources, a third of them matched by one of five watches, each match with its
outbox row, one in twenty of them sent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from newswatch.store import schema
from newswatch.store.db import Store

WATCHES = ["council", "ordinance", "mou", "exchange", "mining"]


def fill(db: Path, n: int) -> None:
    store = Store(f"sqlite:///{db}")
    rng = random.Random(7)
    now = datetime.now(UTC)
    articles, matches, outbox, emails = [], [], [], []
    for i in range(1, n + 1):
        seen = now - timedelta(minutes=i * 3)
        articles.append({"id": i, "url_key": f"k{i}", "url": f"https://site{i % 50}.example/"
                         f"news/{i}.html", "source": f"site{i % 50}",
                         "title": f"Story {i} about the crypto council and its plans",
                         "text": "text " * 50, "published": seen, "first_seen": seen,
                         "too_old": False, "has_text": True})
        if i % 3 == 0:
            watch = WATCHES[rng.randrange(len(WATCHES))]
            matches.append({"id": i, "watch": watch, "article_id": i,
                            "query": '"crypto council"', "matched_at": seen,
                            "hits": [{"term": '"crypto council"', "field": "title",
                                      "count": 1, "found": ["crypto council"]}],
                            "snippets": [{"field": "title", "text": articles[-1]["title"],
                                          "highlights": [[18, 32]]}]})
            email_id = None
            if i % 60 == 0:
                email_id = len(emails) + 1
                emails.append({"id": email_id, "recipient": "desk@example.org",
                               "digest": "immediate", "message_id": f"<{i}@x>",
                               "subject": f"[newswatch] {watch}", "mime": b"x",
                               "status": "sent", "attempts": 1, "next_attempt": seen,
                               "created": seen, "sent": seen})
            outbox.append({"match_id": i, "recipient": "desk@example.org",
                           "digest": "immediate", "due": seen, "message_id": f"<m{i}@x>",
                           "email_id": email_id, "created": seen})
    with store.tx() as conn:
        for table, rows in ((schema.articles, articles), (schema.emails, emails),
                            (schema.matches, matches), (schema.outbox, outbox)):
            for k in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[k:k + 5000])
    store.close()


def fill_runs(db: Path, sources: int, runs: int = 10) -> dict[str, list[str]]:
    """`runs` runs of each of `sources` sources named site0, site1...; one in ten is
    failing (its last three runs refused, its health row saying so), one in 25 of the
    healthy ones had its last run fail once, and one in 50 was never polled. Returns
    the names by health ("failing", "never polled", "healthy")."""
    store = Store(f"sqlite:///{db}")
    now = datetime.now(UTC)
    rows, health = [], []
    names: dict[str, list[str]] = {"failing": [], "never polled": [], "healthy": []}
    for s in range(sources):
        name = f"site{s}"
        if s % 50 == 49:
            names["never polled"].append(name)
            continue
        failing = s % 10 == 3
        names["failing" if failing else "healthy"].append(name)
        for k in range(runs):
            started = now - timedelta(minutes=15 * (runs - k), seconds=s % 600)
            bad = (failing and k >= runs - 3) or (s % 25 == 7 and k == runs - 1)
            rows.append({"source": name, "started": started,
                         "finished": started + timedelta(seconds=4), "duration": 4.0,
                         "pages": 0 if bad else 12, "new_articles": 0 if bad else k % 3,
                         "errors": 1 if bad else 0, "status": "failed" if bad else "ok",
                         "message": f"feed https://{name}.example/feed.xml: connection "
                                    "refused" if bad else None,
                         "worker": "host:4242"})
        if failing:
            health.append({"source": name, "state": "failing",
                           "since": now - timedelta(minutes=15),
                           "reason": f"3 bad runs in a row; the last: feed https://{name}"
                                     ".example/feed.xml: connection refused"})
    with store.tx() as conn:
        for k in range(0, len(rows), 5000):
            conn.execute(insert(schema.runs), rows[k:k + 5000])
        if health:
            conn.execute(insert(schema.source_health), health)
    store.close()
    return names
