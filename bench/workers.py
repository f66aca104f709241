"""Several workers on one PostgreSQL: store throughput of 2 writer processes against 1
(the default), or crawl throughput of 2 crawl workers against 1 (`--crawl`).

    python bench/workers.py [--seconds 20] [--rounds 3]
    python bench/workers.py --crawl [--sites 300] [--rounds 2]

Store: a throwaway PostgreSQL cluster (Debian's package, fsync off as in the tests) and,
for each round, 1 writer process and then 2, each pinned with `taskset -c` to a core of
its own, storing generated articles (5 KB of text, a fingerprint, a URL variant each; one
in twenty matching one of 20 watches, with an alert) through `Store.add_articles` in
batches of 100, as the crawl's store step does, for `--seconds`. All writers start at
one instant; throughput is articles stored per second, summed over the writers, and
the ratio of 2 writers to 1 in the same round is printed (goal: x1.6). PostgreSQL is
not pinned: it shares the cores with the writers.

Crawl: a local "internet" (tests/site/many.py, a process of its own: N news sites on N
loopback addresses, `--initial` articles of 40-90 KB each, 5-20 ms per response), a
throwaway PostgreSQL cluster as database and queue, and for each round, 1 worker and
then 2 (`newswatch worker`, each pinned with `taskset -c` to a core of its own, its
extraction process with it), with one scheduler (`newswatch run`) handing out a first
poll of every source. Measured from the runs table: from the first poll's start to the
last one's end, polls per second and extracted pages per second, and the ratio of 2
workers to 1 in the same run. The site server, PostgreSQL and the scheduler are not
pinned: they share the cores with the workers."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import tree, write_config  # noqa: E402
from tests.pg import PostgresServer, binaries  # noqa: E402

BATCH = 100
WATCHES = 20


def writer(url: str, name: str, start: float, seconds: float) -> None:
    """One writer process: store articles from `start` for `seconds`; prints how many."""
    from newswatch.rules.matcher import Match
    from newswatch.store.db import ArticleRecord, Store, utcnow
    from newswatch.store.matches import Route

    store = Store(url)
    rng = random.Random(name)
    words = " ".join(rng.choices([f"word{i}" for i in range(2000)], k=800))  # 5 KB
    route = Route(("desk@example.org",), "none", utcnow(), "newswatch.test")
    routes = {f"watch{i}": route for i in range(WATCHES)}

    def article(n: int) -> ArticleRecord:
        key = f"site{n % 300}.example/{name}/story-{n}"
        matched = n % 20 == 0
        return ArticleRecord(
            url=f"https://{key}", url_key=key, source=f"site{n % 300}",
            title=f"Story {n} of {name}", text=f"{n} {words}",
            fingerprint=f"{rng.getrandbits(64):016x}", aliases=(key + "?from=feed",),
            matches=(Match(f"watch{rng.randrange(WATCHES)}", "word1", [], []),)
            if matched else ())

    n = 0
    batch = [article(n + i) for i in range(BATCH)]
    time.sleep(max(0.0, start - time.time()))
    cpu = time.process_time()
    stored = 0
    while time.time() < start + seconds:
        stored += sum(1 for i in store.add_articles([(r, routes) for r in batch])
                      if i is not None)
        n += BATCH
        batch = [article(n + i) for i in range(BATCH)]
    elapsed = time.time() - start
    cpu = time.process_time() - cpu
    store.close()
    print(json.dumps({"stored": stored, "seconds": elapsed, "cpu": cpu}), flush=True)


def measure_store(pg: PostgresServer, writers: int, seconds: float) -> dict:
    url = pg.new_database()
    from newswatch.store.db import Store

    Store(url).close()  # the schema, before the writers start
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.time() + 8  # every writer has connected and built its first batch
    procs = [subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, __file__, "--writer", url,
         f"w{core}", str(start), str(seconds)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        text=True) for core in range(writers)]
    waiting = lock_waits(url, start, seconds)
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 120)
        if p.returncode != 0:
            raise RuntimeError(f"a writer failed (exit {p.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    stored = sum(r["stored"] for r in results)
    span = max(r["seconds"] for r in results)
    return {"writers": writers, "stored": stored, "seconds": span, "per_s": stored / span,
            "waiting": waiting, "cpu": sum(r["cpu"] for r in results)}


def lock_waits(url: str, start: float, seconds: float) -> float:
    """The share of the measurement during which a writer was waiting for a lock (a
    heavy-loaded machine slows every writer alike; this says whether they wait for each
    other): pg_stat_activity sampled every 20 ms."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    samples = waits = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        time.sleep(max(0.0, start - time.time()))
        while time.time() < start + seconds:
            row = conn.execute("select count(*) from pg_stat_activity where datname = "
                               "current_database() and wait_event_type = 'Lock'").fetchone()
            samples += 1
            waits += bool(row and row[0])
            time.sleep(0.02)
    return waits / max(samples, 1)


def store_bench(args: argparse.Namespace) -> int:
    pg = PostgresServer(binaries()).start()  # type: ignore[arg-type]
    print(f"store throughput, {BATCH} articles a batch, {args.seconds:.0f} s per "
          "measurement", flush=True)
    ratios: list[float] = []
    try:
        for _ in range(args.rounds):
            one = measure_store(pg, 1, args.seconds)
            two = measure_store(pg, 2, args.seconds)
            for m in (one, two):
                print(f"{m['writers']} writer(s): {m['stored']} articles in "
                      f"{m['seconds']:.1f} s: {m['per_s']:.0f} articles/s; a writer waiting "
                      f"for a lock {m['waiting']:.0%} of the time; writers' CPU "
                      f"{m['cpu']:.1f} s", flush=True)
            ratios.append(two["per_s"] / one["per_s"])
            print(f"2 writers / 1: x{ratios[-1]:.2f}", flush=True)
    finally:
        pg.stop()
    ratios.sort()
    print(f"median of {len(ratios)} round(s): 2 writers / 1: x{ratios[len(ratios) // 2]:.2f} "
          "(goal x1.6)")
    return 0


def measure(pg: PostgresServer, work: Path, port: int, sites: int, workers: int,
            concurrent: int) -> dict:
    import psycopg

    url = pg.new_database()
    folder = work / f"w{workers}-{int(time.time())}"
    folder.mkdir()
    cfg = write_config(folder, port, sites, "1h")
    text = cfg.read_text().replace("database: nw.db\n", f"database: {url}\nqueue: {url}\n")
    cfg.write_text(text + f"daemon:\n  heartbeat: 2s\n  concurrent_sources: {concurrent}\n",
                   encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSWATCH_EXTRACT_WORKERS": "1"}
    cli = [sys.executable, "-m", "newswatch.cli"]
    procs = []
    for core in range(workers):
        log = (folder / f"worker{core}.log").open("w")
        procs.append(subprocess.Popen(["taskset", "-c", str(core), *cli, "worker", "-c",
                                       str(cfg)], cwd=ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT))
    for core in range(workers):
        log_path = folder / f"worker{core}.log"
        while "taking polls" not in log_path.read_text():
            time.sleep(0.2)
    scheduler = subprocess.Popen([*cli, "run", "-c", str(cfg)], cwd=ROOT, env=env,
                                 stdout=(folder / "run.log").open("w"),
                                 stderr=subprocess.STDOUT)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.time() + 1800
    rows: list = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.time() < deadline:
            rows = conn.execute("select started, finished, pages, status from runs").fetchall()
            if len(rows) >= sites and all(r[1] is not None for r in rows):
                break
            time.sleep(1)
    cpu = sum(c for p in procs for _, c in tree(p.pid).values())
    for p in [scheduler, *procs]:
        p.terminate()
    for p in [scheduler, *procs]:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
    begin = min(r[0] for r in rows)
    end = max(r[1] for r in rows)
    span = (end - begin).total_seconds()
    pages = sum(r[2] or 0 for r in rows)
    bad = sum(1 for r in rows if r[3] != "ok")
    return {"workers": workers, "polls": len(rows), "pages": pages, "seconds": span,
            "polls_s": len(rows) / span, "pages_s": pages / span, "cpu": cpu, "bad": bad}


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--writer":
        writer(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crawl", action="store_true",
                        help="crawl workers instead of store writers")
    parser.add_argument("--seconds", type=float, default=20,
                        help="store: how long each measurement stores")
    parser.add_argument("--sites", type=int, default=300)
    parser.add_argument("--initial", type=int, default=6, help="articles per site")
    parser.add_argument("--rounds", type=int, default=None,
                        help="measurements of 1 and 2 (default: 3 for store, 2 for crawl)")
    parser.add_argument("--concurrent", type=int, default=10,
                        help="daemon.concurrent_sources, per worker (a worker takes that "
                             "many polls at once: with more than the sources due, the "
                             "first worker would take them all)")
    args = parser.parse_args()
    if shutil.which("taskset") is None or binaries() is None:
        print("needs taskset (util-linux) and PostgreSQL's initdb", file=sys.stderr)
        return 2
    if len(os.sched_getaffinity(0)) < 2:
        print("needs two cores", file=sys.stderr)
        return 2
    if not args.crawl:
        args.rounds = args.rounds or 3
        return store_bench(args)
    args.rounds = args.rounds or 2
    work = Path(tempfile.mkdtemp(prefix="nw-workers-"))
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.site.many", "--sites", str(args.sites), "--latency",
         "0.005", "0.02", "--initial", str(args.initial)], cwd=ROOT, stdout=subprocess.PIPE,
        text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    pg = PostgresServer(binaries()).start()  # type: ignore[arg-type]
    print(f"{args.sites} sources, {args.initial} articles each, up to {args.concurrent} "
          f"polls at once per worker; work folder {work}", flush=True)
    ratios: list[tuple[float, float]] = []
    try:
        for _ in range(args.rounds):
            one = measure(pg, work, port, args.sites, 1, args.concurrent)
            two = measure(pg, work, port, args.sites, 2, args.concurrent)
            for m in (one, two):
                print(f"{m['workers']} worker(s): {m['polls']} polls, {m['pages']} pages in "
                      f"{m['seconds']:.1f} s: {m['polls_s']:.2f} polls/s, "
                      f"{m['pages_s']:.2f} pages/s, workers' CPU {m['cpu']:.0f} s, "
                      f"{m['bad']} runs not ok", flush=True)
            ratios.append((two["polls_s"] / one["polls_s"], two["pages_s"] / one["pages_s"]))
            print(f"2 workers / 1: polls/s x{ratios[-1][0]:.2f}, pages/s x{ratios[-1][1]:.2f}",
                  flush=True)
    finally:
        server.terminate()
        server.wait()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    polls = sorted(r[0] for r in ratios)
    pages = sorted(r[1] for r in ratios)
    print(f"median of {len(ratios)} round(s): polls/s x{polls[len(polls) // 2]:.2f}, "
          f"pages/s x{pages[len(pages) // 2]:.2f} (target x1.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
