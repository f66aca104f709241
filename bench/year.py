"""A store run for a year with the default retention (issue 23): does it stay the size
of its retention windows, do `status`, `recent`, the web view and a poll cost the same
at day 365 as at day 30, and how long does the daily prune take on SQLite, and how long
does a poll's write wait while it runs?

    python bench/year.py [--sources 200] [--days 365] [--scale 0.1] [--repeat 5]

The store is generated row by row as the daemon and its daily prune would leave it
after --days days (not crawled: a year of crawling takes a year): --sources sources,
each polled every 2 minutes / --scale (a run row each) and finding 30 x --scale
articles a day (titles and texts of realistic sizes, a median 3.5 kB of text, one URL
variant for one in three), 3% of them matched by one of five watches, each match with
its outbox row, sent in emails of three alerts (6 kB each). What yesterday's prune
removed is not generated; what today's prune removes (one day past each window) is:
articles of day -91 still hold their text and matches, runs and emails of day -31 are
still there. The same is built for day 30, and both are measured: the file's size,
`status` and `recent` (in this process, output discarded), the web view's pages (its
app served by uvicorn on 127.0.0.1 in this process), one poll's store work
(validators, a run, the known-URL lookup of a 50-link feed, one new article, the run's
end, the source's health); then today's prune, while a thread makes poll writes back
to back and records the longest one. Ratios day N / day 30 are printed; --scale 1
--sources 2000 is the issue's rate."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newswatch.cli.main import build_parser  # noqa: E402
from newswatch.config.loader import load_config  # noqa: E402
from newswatch.config.models import Config  # noqa: E402
from newswatch.store.db import ArticleRecord, Store  # noqa: E402
from tests.smtp import free_port  # noqa: E402

WATCHES = ["council", "ordinance", "treaty", "exchange", "mining"]
DAY = timedelta(days=1)
RUNS_EVERY = 120.0  # seconds, at --scale 1
ARTICLES_A_DAY = 30  # per source, at --scale 1
# the words of the generated titles and texts
VOCABULARY = ("the council said on monday that its plans for the new port would go ahead "
              "despite objections from residents mining exchange treaty minister budget "
              "court election river bridge school hospital police market farmers weather "
              "storm festival report inquiry company shares workers union")
WORDS = VOCABULARY.split(" ")


def stamp(when: datetime) -> str:
    """A time as the store keeps it on SQLite (naive UTC)."""
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@dataclass
class Built:
    days: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def build(db: Path, sources: int, days: int, scale: float, now: datetime) -> Built:
    """The store as the daemon leaves it after `days` days with the default retention
    (articles 90d, runs 30d, alerts 30d, urls 2y), plus today's excess for the prune."""
    started = time.perf_counter()
    Store(f"sqlite:///{db}").close()  # the schema, by its migrations
    rng = random.Random(days)
    pool = " ".join(rng.choice(WORDS) for _ in range(60_000))  # ~360 kB of words
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    built = Built(days)
    counts = built.rows

    def put(table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            cols = list(rows[0])
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                            f"({', '.join(':' + c for c in cols)})", rows)
            counts[table] = counts.get(table, 0) + len(rows)
    first = now - days * DAY
    text_from = now - 91 * DAY  # articles older lost their text in an earlier prune
    sent_from = now - 31 * DAY  # emails (and their outbox rows) older are gone
    per_day = max(1, round(sources * ARTICLES_A_DAY * scale))
    n_articles = per_day * days
    match_id = email_id = 0
    batch_a: list[dict[str, Any]] = []
    aliases: list[dict[str, Any]] = []
    matches: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    emails: list[dict[str, Any]] = []
    for aid in range(1, n_articles + 1):  # in the order found, sources interleaved
        seen = first + (aid - 1 + rng.random()) * (now - first) / n_articles
        source = f"site{rng.randrange(sources)}"
        url = f"https://{source}.example/news/{seen:%Y/%m/%d}/{aid}-{rng.randrange(10**9)}"
        length = min(30_000, int(rng.lognormvariate(8.16, 0.6)))  # median ~3.5 kB
        at = rng.randrange(len(pool) - length)
        kept = seen >= text_from
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize()
        row: dict[str, Any] = {"id": aid, "url_key": url.removeprefix("https://"), "url": url,
               "source": source, "title": title, "text": pool[at:at + length] if kept
               else None, "author": "A. Reporter" if kept else None,
               "published": stamp(seen - timedelta(minutes=rng.randrange(600))),
               "published_precision": "time", "first_seen": stamp(seen), "language": "en",
               "sitename": source, "fingerprint": f"{rng.getrandbits(64):016x}",
               "too_old": 0, "has_text": 1, "story_id": None,
               "pruned": None if kept else stamp(seen + 91 * DAY)}
        batch_a.append(row)
        aliases.append({"url_key": row["url_key"], "article_id": aid})
        if aid % 3 == 0:
            aliases.append({"url_key": row["url_key"] + "?utm_source=feed",
                            "article_id": aid})
        if kept and rng.random() < 0.03:
            match_id += 1
            watch = rng.choice(WATCHES)
            hits = json.dumps([{"term": watch, "field": "text", "count": 2,
                                "found": [watch]}])
            snippets = json.dumps([{"field": "text", "text": pool[at:at + 240],
                                    "highlights": [[10, 10 + len(watch)]]}])
            matches.append({"id": match_id, "watch": watch, "article_id": aid,
                            "query": watch, "hits": hits, "snippets": snippets,
                            "matched_at": stamp(seen), "duplicate_of": None})
            if seen >= sent_from:
                if match_id % 3 == 1:  # an email holds three alerts
                    email_id += 1
                    mime = pool[at:at + 6000].encode()
                    emails.append({
                        "id": email_id, "recipient": "desk@example.org",
                        "digest": "immediate", "message_id": f"<e{email_id}@bench>",
                        "subject": f"[newswatch] {watch}: {title}", "mime": mime,
                        "status": "sent", "attempts": 1, "next_attempt": stamp(seen),
                        "created": stamp(seen),
                        "sent": stamp(seen + timedelta(seconds=20))})
                outbox.append({"id": match_id, "match_id": match_id,
                               "recipient": "desk@example.org", "digest": "immediate",
                               "due": stamp(seen), "message_id": f"<m{match_id}@bench>",
                               "email_id": email_id or None, "created": stamp(seen)})
        if len(batch_a) >= 20_000:
            put("articles", batch_a)
            batch_a.clear()
    put("articles", batch_a)
    put("url_aliases", aliases)
    put("emails", emails)
    put("matches", matches)
    put("outbox", outbox)
    # runs: every source every 2 minutes / scale, over the last 31 days (or all of them)
    every = RUNS_EVERY / scale
    since = max(first, now - 31 * DAY)
    steps = int((now - since).total_seconds() // every)
    runs: list[dict[str, Any]] = []
    rid = 0
    for step in range(steps):  # in time order, sources interleaved, as polls happen
        base = since + timedelta(seconds=step * every)
        for s in range(sources):
            rid += 1
            began = base + timedelta(seconds=(s * 7919 % int(every)))
            row = {"id": rid, "source": f"site{s}", "started": stamp(began),
                   "finished": stamp(began + timedelta(seconds=3)), "duration": 3.0,
                   "pages": 1, "new_articles": 0, "too_old": 0, "no_text": 0,
                   "known": 30, "matches": 0, "errors": 0, "links": 30, "bad_links": 0,
                   "status": "ok", "message": None, "worker": "bench:1"}
            runs.append(row)
        if len(runs) >= 50_000:
            put("runs", runs)
            runs.clear()
    put("runs", runs)
    put("http_validators", [{"url": f"https://site{s}.example/feed.xml", "etag": f'"e{s}"',
                             "checked": stamp(now)} for s in range(sources)])
    put("source_health", [{"source": f"site{s}", "state": "healthy", "since": stamp(first)}
                          for s in range(sources)])
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    built.seconds = time.perf_counter() - started
    return built


def config_for(work: Path, db: Path, sources: int) -> Path:
    path = work / f"{db.stem}.yaml"
    path.write_text(f"database: {db.name}\nsources:\n" + "".join(
        f"  - name: site{i}\n    feeds: ['https://site{i}.example/feed.xml']\n"
        for i in range(sources)) + "watches:\n" + "".join(
        f"  - name: {w}\n    query: '{w}'\n" for w in WATCHES), encoding="utf-8")
    return path


def command(cfg: Path, *argv: str) -> Callable[[], None]:
    """A CLI command run in this process, its output discarded."""
    args = build_parser().parse_args([*argv, "-c", str(cfg)])
    config = load_config(cfg)

    def run() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert args.func(args, config, cfg) == 0

    return run


class Poller:
    """One poll's store work, as a worker does it (the store's own calls)."""

    def __init__(self, store: Store, config: Config, sources: int):
        from newswatch.service import health

        self.store, self.config, self.sources = store, config, sources
        self.check = health.check
        self.n = 0
        self.writes: list[float] = []  # how long each write transaction took

    def _write(self, call: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            return call()
        finally:
            self.writes.append(time.perf_counter() - began)

    def poll(self) -> None:
        self.n += 1
        source = f"site{self.n * 7 % self.sources}"
        feed = f"https://{source}.example/feed.xml"
        store = self.store
        store.validators(feed)
        run_id = self._write(lambda: store.start_run(source))
        with store.reader.connect() as conn:  # the feed's 49 known links, and one new
            keys = [r[0] for r in conn.exec_driver_sql(
                "SELECT url_key FROM articles WHERE source = ? ORDER BY id DESC LIMIT 49",
                (source,))]
        fresh = f"{source}.example/news/bench/{self.n}-{time.time_ns()}"
        store.known_keys([*keys, fresh])
        rec = ArticleRecord(url="https://" + fresh, url_key=fresh, source=source,
                            title="A new story about the council", text="word " * 700,
                            fingerprint=f"{random.getrandbits(64):016x}")
        self._write(lambda: store.add_articles([(rec, None)]))
        self._write(lambda: store.finish_run(run_id, "ok", {"pages": 2, "new_articles": 1}))
        self._write(lambda: store.save_validators(feed, '"e2"', None))
        self.check(store, self.config, [source])


def lock_waits(store: Store, thread: str) -> list[float]:
    """The time each write transaction begun in the thread named `thread` waited for
    SQLite's write lock (the store begins them with BEGIN IMMEDIATE)."""
    from sqlalchemy import event

    waits: list[float] = [0.0]
    began: dict[int, float] = {}

    @event.listens_for(store.engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN") and threading.current_thread().name == thread:
            began[id(cursor)] = time.perf_counter()

    @event.listens_for(store.engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if id(cursor) in began:
            waits.append(time.perf_counter() - began.pop(id(cursor)))

    return waits


def size_of(db: Path) -> tuple[int, int]:
    """The file's bytes, and the bytes of its pages in use (a pruned day's pages are
    reused by the next day's rows, so the file stops growing at its high-water mark)."""
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = con.execute("PRAGMA page_size").fetchone()[0]
        used = con.execute("PRAGMA page_count").fetchone()[0] - \
            con.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        con.close()
    return db.stat().st_size, used * page


class Subject:
    """One aged store with everything measured on it: its commands, its web view (served
    by uvicorn on 127.0.0.1 in a thread of this process) and a poller."""

    def __init__(self, work: Path, db: Path, sources: int):
        import uvicorn

        from newswatch.web.app import make_app
        from newswatch.web.auth import Access

        self.db = db
        cfg = config_for(work, db, sources)
        self.config = load_config(cfg)
        self.size = size_of(db)
        self.store = Store(self.config.database)
        self.poller = Poller(self.store, self.config, sources)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            make_app(self.config, Access(self.config, "127.0.0.1", None), self.store),
            host="127.0.0.1",
            port=self.port, log_level="warning"))
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.05)
        with sqlite3.connect(db) as con:
            last_match = con.execute("SELECT max(id) FROM matches").fetchone()[0]
        pages = {"/": "web matches", "/?watch=council": "web one watch",
                 f"/match/{last_match}": "web a match", "/sources": "web sources",
                 "/sources/site1": "web a source", "/outbox": "web outbox",
                 "/feeds/all.atom": "web feed"}
        self.figures: dict[str, Callable[[], Any]] = {
            "status s": command(cfg, "status"), "recent s": command(cfg, "recent"),
            **{f"{name} s": self._get(path) for path, name in pages.items()},
            "poll store s": self.poller.poll}
        for call in self.figures.values():
            call()  # once unmeasured: templates compiled, statements prepared, pages cached

    def _get(self, path: str) -> Callable[[], None]:
        def get() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=120) as r:
                r.read()
        return get

    def prune(self) -> dict[str, float]:
        """Today's prune, with polls writing beside it."""
        from newswatch.store import retention

        out: dict[str, float] = {}
        poller = self.poller
        poller.writes.clear()
        done = threading.Event()
        waits = lock_waits(self.store, "polls")

        def polls() -> None:
            while not done.is_set():
                poller.poll()
                time.sleep(0.02)

        thread = threading.Thread(target=polls, name="polls")
        thread.start()
        began = time.perf_counter()
        pruned = retention.prune(self.store, self.config.retention, datetime.now(UTC))
        out["prune s"] = time.perf_counter() - began
        done.set()
        thread.join()
        # how long a poll's write transaction waited for the write lock (BEGIN
        # IMMEDIATE), and how long its writes took in all (their own work included: the
        # story index's refresh reads articles inside the article batch's transaction)
        out["longest poll lock wait during prune s"] = max(waits)
        out["longest poll write during prune s"] = max(poller.writes)
        out["poll writes during prune"] = len(poller.writes)
        for kind in ("articles", "matches", "forgotten", "runs", "emails"):
            out[f"pruned {kind}"] = getattr(pruned, kind)
        self.server.should_exit = True
        return out


def measure(subjects: list[Subject], repeat: int) -> list[dict[str, float]]:
    """Each figure's median over `repeat` rounds, the stores taking turns within each
    round (a machine whose load swings then weighs on both alike), then each prune."""
    times: list[dict[str, list[float]]] = [{k: [] for k in s.figures} for s in subjects]
    for _ in range(repeat):
        for subject, got in zip(subjects, times, strict=True):
            for name, call in subject.figures.items():
                began = time.perf_counter()
                call()
                got[name].append(time.perf_counter() - began)
    results = []
    for subject, got in zip(subjects, times, strict=True):
        file_bytes, used = subject.size
        results.append({"file MB": file_bytes / 1e6, "in use MB": used / 1e6,
                        **{k: statistics.median(v) for k, v in got.items()},
                        **subject.prune()})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--days", type=int, default=365, help="the aged store's age")
    parser.add_argument("--scale", type=float, default=0.1,
                        help="of the issue's rates: 30 articles a day, a run every 2 min")
    parser.add_argument("--repeat", type=int, default=5, help="timings per figure (median)")
    parser.add_argument("--keep", action="store_true", help="keep the stores (path printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nw-year-"))
    os.chdir(work)  # the configs name their database relative to themselves
    now = datetime.now(UTC)
    print(f"{args.sources} sources, {ARTICLES_A_DAY * args.scale:g} articles a source a day, "
          f"a run every {RUNS_EVERY / args.scale:g} s; stores in {work}", flush=True)
    subjects = []
    for days in (30, args.days):
        db = work / f"day{days}.db"
        built = build(db, args.sources, days, args.scale, now)
        rows = ", ".join(f"{n} {t}" for t, n in built.rows.items())
        print(f"day {days}: built in {built.seconds:.0f} s: {rows}", flush=True)
        subjects.append(Subject(work, db, args.sources))
    first, last = measure(subjects, args.repeat)
    for subject in subjects:
        subject.store.close()
    if args.days > 91:  # the store once the longest content window (articles, 90d) is full
        db = work / "day91.db"
        build(db, args.sources, 91, args.scale, now)
        print(f"day 91: file {size_of(db)[0] / 1e6:.1f} MB (day {args.days}: "
              f"{last['file MB']:.1f} MB: the rows of pruned articles, kept "
              "for their URLs until retention.urls)", flush=True)
    print(f"\n{'':>40} {'day 30':>10} {f'day {args.days}':>10} {'ratio':>7}")
    for key in first:
        a, b = first[key], last[key]
        ratio = f"{b / a:7.2f}" if a else "      -"
        print(f"{key:>40} {a:10.3f} {b:10.3f} {ratio}")
    if not args.keep:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
