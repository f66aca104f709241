"""Several workers: throughput of 2 crawl workers against 1, each pinned to a core.

    python bench/workers.py [--sites 300] [--rounds 2]

A local "internet" (tests/site/many.py, a process of its own: N news sites on N
loopback addresses, `--initial` articles of 40-90 KB each, 5-20 ms per response), a
throwaway PostgreSQL cluster (Debian's package) as database and queue, and for each
round, 1 worker and then 2 (`newswatch worker`, each pinned with `taskset -c` to a
core of its own, its extraction process with it), with one scheduler (`newswatch
run`) handing out a first poll of every source. Measured from the runs table: from
the first poll's start to the last one's end, polls per second and extracted pages
per second, and the ratio of 2 workers to 1 in the same run. The site server,
PostgreSQL and the scheduler are not pinned: they share the cores with the workers."""

from __future__ import annotations

import argparse
import os
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=300)
    parser.add_argument("--initial", type=int, default=6, help="articles per site")
    parser.add_argument("--rounds", type=int, default=2)
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
