"""The web view on a large store: how long its pages take, and how big they are, with
100,000 articles and 2,000 sources.

    python bench/web.py [--articles 100000] [--sources 2000] [--runs 10] [--requests 20]

Fills a SQLite store (the schema `newswatch` creates) with N articles from 50 sources,
a third of them matched by one of five watches, each match with its outbox row and a
sent email per 20; and --runs runs of each of --sources configured sources (one in ten
failing, one in fifty never polled: tests/store_fill.fill_runs). Starts `newswatch web`
on it as a real process and times each page over HTTP (median and worst of --requests):
the first page of all matches, a watch, a source, a date range, a page deep in the
list, an article, the sources page (as it opens, its failing ones, a name filter, a
page deep in it), one source's page, the outbox and a feed. As a baseline in the same
run, the time of the smallest page: a 404."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.smtp import free_port  # noqa: E402
from tests.store_fill import WATCHES, fill, fill_runs  # noqa: E402


def timed(url: str) -> tuple[float, int]:
    """How long the page took, and its size in bytes."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            size = len(r.read())
    except urllib.error.HTTPError as exc:
        size = len(exc.read())
    return time.perf_counter() - start, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10, help="runs kept of each source")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nw-web-"))
    db = work / "nw.db"
    started = time.perf_counter()
    fill(db, args.articles)
    print(f"{args.articles} articles, {args.articles // 3} matches stored in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    names = fill_runs(db, args.sources, args.runs)
    print(f"{args.sources} sources ({len(names['failing'])} failing, "
          f"{len(names['never polled'])} never polled), {args.runs} runs each, stored in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    cfg = work / "newswatch.yaml"
    cfg.write_text("database: nw.db\nsources:\n" + "".join(
        f"  - name: site{i}\n    feeds: ['https://site{i}.example/feed.xml']\n"
        for i in range(max(50, args.sources))) + "watches:\n" + "".join(
        f"  - name: {w}\n    query: '\"crypto council\"'\n" for w in WATCHES),
        encoding="utf-8")
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "newswatch.cli", "web", "-c", str(cfg),
                            "--port", str(port)], cwd=ROOT, env={**os.environ},
                           stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                timed(base + "/feeds/all.atom")
                break
            except OSError:
                time.sleep(0.2)
        deep = args.articles // 3 // 50 // 2
        pages = {"404 (baseline)": "/feeds/none.atom", "all matches": "/",
                 "one watch": "/?watch=council", "one source": "/?source=site7",
                 "a date range": f"/?since={(datetime.now(UTC) - timedelta(days=30)):%Y-%m-%d}"
                                 f"&until={(datetime.now(UTC) - timedelta(days=20)):%Y-%m-%d}",
                 f"page {deep}": f"/?page={deep}", "an article": "/match/300",
                 "sources": "/sources", "failing sources": "/sources?health=failing",
                 "sources by name": "/sources?name=site12",
                 "sources page 20": "/sources?page=20",
                 "a source": f"/sources/{names['failing'][0]}",
                 "outbox": "/outbox", "feed": "/feeds/council.atom"}
        base_time = None
        for name, path in pages.items():
            tries = [timed(base + path) for _ in range(args.requests)]
            times = sorted(t for t, _ in tries)
            median = statistics.median(times)
            base_time = base_time or median
            print(f"{name:>16}: median {1000 * median:7.1f} ms, worst {1000 * times[-1]:7.1f} "
                  f"ms ({median / base_time:5.1f}x the 404), {tries[0][1] / 1000:7.1f} kB",
                  flush=True)
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
