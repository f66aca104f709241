"""A store run for a year with the default retention (issue 23): does it stay the size
of its retention windows, do `status`, `recent`, the web view and a poll cost the same
at day 365 as at day 30, and how long does the daily prune take on SQLite, and how long
does a poll's write wait while it runs?

    python bench/year.py [--sources 200] [--days 365] [--scale 0.1] [--repeat 5]
    python bench/year.py --prune-only --sources 2000 --scale 1 [--dir DIR]

The store is generated (by SQLite itself, a day at a time) as the daemon and its daily
prune would leave it after --days days (not crawled: a year of crawling takes a year):
--sources sources, each polled every 2 minutes / --scale (a run row each) and finding
30 x --scale articles a day (titles and texts of realistic sizes, a median 3.5 kB of
text, one URL variant for one in three), 3% of them matched by one of five watches,
each match with its outbox row, sent in emails of three alerts (6 kB each). A day's
articles follow from the day's age, so the stores of day 30 and day 365 hold the same
last 30 days. What yesterday's prune removed is not generated; what today's prune
removes (one day past each window) is: articles of day -91 still hold their text and
matches, runs and emails of day -31 are still there. The same is built for day 30, and
both are measured: the file's size, `status` and `recent` (in this process, output
discarded), the web view's pages (its app served by uvicorn on 127.0.0.1 in this
process), one poll's store work (validators, a run, the known-URL lookup of a 50-link
feed, one new article, the run's end, the source's health), the two stores in turns;
then today's prune, while a thread makes poll writes back to back and records the
longest wait for the write lock. Ratios day N / day 30 are printed, of the wall time
and of this process's CPU time (steadier on a shared machine).

--prune-only builds only the aged store and times its prune: with --scale 1 --sources
2000 (the issue's rate) it is ~12 GB, so the rows of articles pruned before (kept for
their URLs, which the prune no longer reads) are left out and the texts of the days the
prune does not touch are a tenth as long."""

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


# the pseudo-random numbers of an article, from its day's age and its place in the day
# (the same in Python and in SQL: a store's last days are the same at any age)
MIX = {"source": 2654435761, "size": 2246822519, "at": 3266489917, "pick": 668265263}
PRIME = 1_000_000_007


def mix(age: int, n: int, what: str) -> int:
    return (age * 7919 + n + 1) * MIX[what] % PRIME


def mixed(what: str) -> str:
    """mix() in SQL, of the row's `n` and the statement's :age."""
    return f"((:age * 7919 + n + 1) * {MIX[what]} % {PRIME})"


def build(db: Path, sources: int, days: int, scale: float, now: datetime,
          history: bool = True, short_texts: bool = False) -> Built:
    """The store as the daemon leaves it after `days` days with the default retention
    (articles 90d, runs 30d, alerts 30d, urls 2y), plus today's excess for the prune.
    Articles are made by SQLite, a day at a time, from numbers that follow from the
    day's age: two stores share the same last 30 days, and differ only in what is
    older. Without `history`, the rows of articles pruned earlier (kept for their URLs)
    are left out; with `short_texts`, the texts of the days today's prune does not touch
    are a tenth as long (both to fit a full-scale store on the disk)."""
    started = time.perf_counter()
    Store(f"sqlite:///{db}").close()  # the schema, by its migrations
    rng = random.Random(0)
    pool = " ".join(rng.choice(WORDS) for _ in range(60_000))  # ~360 kB of words
    titles = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize()
              for _ in range(1000)]
    sizes = [min(30_000, int(rng.lognormvariate(8.16, 0.6))) for _ in range(1000)]  # ~3.5k
    con = sqlite3.connect(db, isolation_level=None)
    # no journal while it is built: one writer, and a failed build is thrown away
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")  # 1 GB: the indexes' hot pages stay
    con.execute("CREATE TEMP TABLE picks (k INTEGER PRIMARY KEY, title TEXT, size INTEGER)")
    con.executemany("INSERT INTO picks VALUES (?, ?, ?)",
                    [(k, t, z) for k, (t, z) in enumerate(zip(titles, sizes, strict=True))])
    built = Built(days)
    counts = built.rows

    def put(table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            cols = list(rows[0])
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                            f"({', '.join(':' + c for c in cols)})", rows)
            counts[table] = counts.get(table, 0) + len(rows)
            rows.clear()
    per_day = max(1, round(sources * ARTICLES_A_DAY * scale))
    next_id = match_id = email_id = 0
    matches: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    emails: list[dict[str, Any]] = []
    # age 90: the day today's prune takes the text of (first seen 90-91 days ago)
    oldest = days - 1 if history else min(days - 1, 90)
    for age in range(oldest, -1, -1):  # the oldest day first, as ids were given
        kept = age <= 90  # older articles lost their text in an earlier prune
        shorter = 10 if short_texts and 0 < age < 90 else 1
        day_start = (now - (age + 1) * DAY).timestamp()
        params = {"age": age, "first": next_id + 1, "per_day": per_day, "sources": sources,
                  "t0": day_start, "pool": pool.encode(), "pool_size": len(pool),
                  "shorter": shorter, "kept": int(kept)}
        con.execute("BEGIN")
        add_articles(con, params)
        counts["articles"] = counts.get("articles", 0) + per_day
        in_day = 0
        for n in range(per_day):
            pick = mix(age, n, "pick")
            if not kept or pick % 100 >= 3:  # 3% match a watch
                continue
            aid = next_id + 1 + n
            seen = datetime.fromtimestamp(day_start + (n + 0.5) * DAY.total_seconds()
                                          / per_day, UTC)
            match_id += 1
            watch = WATCHES[pick // 100 % len(WATCHES)]
            at = mix(age, n, "at") % (len(pool) - 300)
            hits = json.dumps([{"term": watch, "field": "text", "count": 2,
                                "found": [watch]}])
            snippets = json.dumps([{"field": "text", "text": pool[at:at + 240],
                                    "highlights": [[10, 10 + len(watch)]]}])
            matches.append({"id": match_id, "watch": watch, "article_id": aid,
                            "query": watch, "hits": hits, "snippets": snippets,
                            "matched_at": stamp(seen), "duplicate_of": None})
            if age <= 30:  # emails (and their outbox rows) older are gone
                if in_day % 3 == 0:  # an email holds three alerts
                    email_id += 1
                    emails.append({
                        "id": email_id, "recipient": "desk@example.org",
                        "digest": "immediate", "message_id": f"<e{email_id}@bench>",
                        "subject": f"[newswatch] {watch}: {titles[pick % 1000]}",
                        "mime": pool[at:at + 6000].encode(), "status": "sent",
                        "attempts": 1, "next_attempt": stamp(seen), "created": stamp(seen),
                        "sent": stamp(seen + timedelta(seconds=20))})
                in_day += 1
                outbox.append({"id": match_id, "match_id": match_id,
                               "recipient": "desk@example.org", "digest": "immediate",
                               "due": stamp(seen), "message_id": f"<m{match_id}@bench>",
                               "email_id": email_id, "created": stamp(seen)})
        put("emails", emails)
        put("matches", matches)
        put("outbox", outbox)
        con.execute("COMMIT")
        next_id += per_day
    counts["url_aliases"] = con.execute("SELECT count(*) FROM url_aliases").fetchone()[0]
    counts["runs"] = add_runs(con, sources, days, scale, now)
    put("http_validators", [{"url": f"https://site{s}.example/feed.xml", "etag": f'"e{s}"',
                             "checked": stamp(now)} for s in range(sources)])
    put("source_health", [{"source": f"site{s}", "state": "healthy",
                            "since": stamp(now - days * DAY)} for s in range(sources)])
    con.execute("PRAGMA journal_mode=WAL")  # as the store keeps it
    con.close()
    built.seconds = time.perf_counter() - started
    return built


def add_articles(con: sqlite3.Connection, params: dict[str, Any]) -> None:
    """One day's articles (:per_day, ids from :first, first seen from :t0 on, sources
    interleaved) with their URL keys, one in three with a second variant: texts cut from
    :pool (bytes: a cut is a seek), :shorter times shorter; no text (pruned) unless :kept."""
    seen = ("strftime('%Y-%m-%d %H:%M:%f', :t0 + (n + 0.5) * 86400.0 / :per_day, "
            "'unixepoch') || '000'")
    con.execute(f"""
        WITH RECURSIVE day(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM day
                                  WHERE n + 1 < :per_day),
            a AS (SELECT n, 'site' || ({mixed("source")} % :sources) AS source,
                         picks.title AS title, picks.size / :shorter AS size,
                         {mixed("at")} AS at, {seen} AS seen
                  FROM day JOIN picks ON picks.k = {mixed("size")} % 1000)
        INSERT INTO articles (id, url_key, url, source, title, text, author, published,
                              published_precision, first_seen, language, sitename,
                              fingerprint, too_old, has_text, story_id, pruned)
        SELECT :first + n, key, 'https://' || key, source, title,
               CASE WHEN :kept THEN CAST(substr(:pool, 1 + at % (:pool_size - size), size)
                                         AS TEXT) END,
               CASE WHEN :kept THEN 'A. Reporter' END, seen, 'time', seen, 'en',
               source, printf('%08x%08x', at, {mixed("source")}), 0, 1, NULL,
               CASE WHEN NOT :kept THEN strftime('%Y-%m-%d %H:%M:%f', :t0 + 91 * 86400,
                                                 'unixepoch') || '000' END
        FROM (SELECT *, source || '.example/news/' || substr(seen, 1, 10) || '/'
                        || (:first + n) || '-' || at AS key FROM a)""", params)
    con.execute("""
        INSERT INTO url_aliases (url_key, article_id)
        SELECT url_key, id FROM articles WHERE id >= :first AND id < :first + :per_day
        UNION ALL
        SELECT url_key || '?utm_source=feed', id FROM articles
        WHERE id >= :first AND id < :first + :per_day AND (id - :first) % 3 = 0""",
                {"first": params["first"], "per_day": params["per_day"]})


def add_runs(con: sqlite3.Connection, sources: int, days: int, scale: float,
             now: datetime) -> int:
    """Every source's runs, one every 2 minutes / scale, over the last 31 days (or all of
    them), in time order with the sources interleaved as polls happen: made by SQLite
    itself (a full-scale month is 45 million rows)."""
    every = int(RUNS_EVERY / scale)
    since = max(now - days * DAY, now - 31 * DAY)
    steps = int((now - since).total_seconds() // every)
    # a run's start as the store writes it: naive UTC, microseconds
    started = "strftime('%Y-%m-%d %H:%M:%f', :t0 + i * :every + s * 7919 % :every, " \
        "'unixepoch') || '000'"
    finished = started.replace(":every, ", ":every + 3, ")
    con.execute(f"""
        WITH RECURSIVE step(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM step
                                   WHERE i + 1 < :steps),
            src(s) AS (SELECT 0 UNION ALL SELECT s + 1 FROM src WHERE s + 1 < :sources)
        INSERT INTO runs (source, started, finished, duration, pages, new_articles,
                          too_old, no_text, known, matches, errors, links, bad_links,
                          status, message, worker)
        SELECT 'site' || s, {started}, {finished}, 3.0, 1, 0, 0, 0, 30, 0, 0, 30, 0,
               'ok', NULL, 'bench:1'
        FROM step CROSS JOIN src""", {"t0": since.timestamp(), "every": every,
                                      "steps": steps, "sources": sources})
    return steps * sources


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
        self.server.should_exit = True
        return timed_prune(self.store, self.config, self.poller)


def timed_prune(store: Store, config: Config, poller: Poller) -> dict[str, float]:
    """Today's prune, with polls writing beside it."""
    from newswatch.store import retention

    out: dict[str, float] = {}
    poller.writes.clear()
    done = threading.Event()
    waits = lock_waits(store, "polls")

    def polls() -> None:
        while not done.is_set():
            poller.poll()
            time.sleep(0.02)

    thread = threading.Thread(target=polls, name="polls")
    thread.start()
    began = time.perf_counter()
    pruned = retention.prune(store, config.retention, datetime.now(UTC))
    out["prune s"] = time.perf_counter() - began
    done.set()
    thread.join()
    # how long a poll's write transaction waited for the write lock (BEGIN IMMEDIATE),
    # and how long its writes took in all (their own work included: the story index's
    # refresh reads articles inside the article batch's transaction)
    out["longest poll lock wait during prune s"] = max(waits)
    out["longest poll write during prune s"] = max(poller.writes)
    out["poll writes during prune"] = len(poller.writes)
    for kind in ("articles", "matches", "forgotten", "runs", "emails"):
        out[f"pruned {kind}"] = getattr(pruned, kind)
    return out


def prune_alone(work: Path, db: Path, sources: int) -> dict[str, float]:
    """--prune-only: the aged store's prune with polls beside it, nothing else (and how
    long each step took, in how many transactions)."""
    import logging

    logging.basicConfig(format="%(message)s")
    logging.getLogger("newswatch.store.retention").setLevel(logging.DEBUG)
    config = load_config(config_for(work, db, sources))
    with Store(config.database) as store:
        poller = Poller(store, config, sources)
        poller.poll()  # once unmeasured: the story index read, statements prepared
        return timed_prune(store, config, poller)


def measure(subjects: list[Subject], repeat: int
            ) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Each figure's median over `repeat` rounds, then each prune; and each figure's
    ratio, the median of its rounds' ratios. In a round the two stores are timed one
    right after the other, figure by figure, in turns (first one, then the other first),
    so that a machine whose load swings weighs on both alike. The ratios are also given
    of the CPU time this process spent (its threads serve the web view too), which
    other processes' load on a shared machine barely moves: `{name} cpu`."""
    times: list[dict[str, list[float]]] = [{k: [] for k in s.figures} for s in subjects]
    cpu: list[dict[str, list[float]]] = [{k: [] for k in s.figures} for s in subjects]
    for round_ in range(repeat):
        for name in subjects[0].figures:
            turns = list(zip(subjects, times, cpu, strict=True))
            for subject, got, got_cpu in turns[::-1] if round_ % 2 else turns:
                began, began_cpu = time.perf_counter(), time.process_time()
                subject.figures[name]()
                got[name].append(time.perf_counter() - began)
                got_cpu[name].append(time.process_time() - began_cpu)
    ratios = {}
    for kind, (first, last) in (("", (times[0], times[-1])), (" cpu", (cpu[0], cpu[-1]))):
        ratios.update({k + kind: statistics.median(
            b / a for a, b in zip(first[k], last[k], strict=True) if a) for k in first})
    results = []
    for subject, got, spent in zip(subjects, times, cpu, strict=True):
        file_bytes, used = subject.size
        results.append({"file MB": file_bytes / 1e6, "in use MB": used / 1e6,
                        **{k: statistics.median(v) for k, v in got.items()},
                        **{f"{k} cpu": statistics.median(v) for k, v in spent.items()},
                        **subject.prune()})
    return results, ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--days", type=int, default=365, help="the aged store's age")
    parser.add_argument("--scale", type=float, default=0.1,
                        help="of the issue's rates: 30 articles a day, a run every 2 min")
    parser.add_argument("--repeat", type=int, default=5, help="timings per figure (median)")
    parser.add_argument("--keep", action="store_true", help="keep the stores (path printed)")
    parser.add_argument("--prune-only", action="store_true",
                        help="only the aged store's prune (for --scale 1 --sources 2000): "
                        "without the rows of articles pruned before (kept for their URLs), "
                        "the texts of the days it does not touch a tenth as long")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to build the stores (default: a new temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nw-year-", dir=args.dir))
    os.chdir(work)  # the configs name their database relative to themselves
    now = datetime.now(UTC)
    print(f"{args.sources} sources, {ARTICLES_A_DAY * args.scale:g} articles a source a day, "
          f"a run every {RUNS_EVERY / args.scale:g} s; stores in {work}", flush=True)
    if args.prune_only:
        return only_prune(work, args, now)
    subjects = []
    for days in (30, args.days):
        db = work / f"day{days}.db"
        built = build(db, args.sources, days, args.scale, now)
        rows = ", ".join(f"{n} {t}" for t, n in built.rows.items())
        print(f"day {days}: built in {built.seconds:.0f} s: {rows}", flush=True)
        subjects.append(Subject(work, db, args.sources))
    (first, last), ratios = measure(subjects, args.repeat)
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
        ratio = f"{ratios.get(key, b / a if a else 0):7.2f}" if a else "      -"
        print(f"{key:>40} {a:10.3f} {b:10.3f} {ratio}")
    if not args.keep:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()
    return 0


def only_prune(work: Path, args: argparse.Namespace, now: datetime) -> int:
    db = work / f"day{args.days}.db"
    try:
        built = build(db, args.sources, args.days, args.scale, now, history=False,
                      short_texts=True)
        rows = ", ".join(f"{n} {t}" for t, n in built.rows.items())
        print(f"day {args.days}: built in {built.seconds:.0f} s: {rows}; file "
              f"{size_of(db)[0] / 1e9:.1f} GB", flush=True)
        for key, value in prune_alone(work, db, args.sources).items():
            print(f"{key:>40} {value:10.3f}")
    finally:
        if not args.keep:
            for path in work.iterdir():
                path.unlink()
            work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
