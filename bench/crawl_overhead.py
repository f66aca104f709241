"""The crawl process's own CPU per page, with extraction taken out of the picture.

    python bench/crawl_overhead.py ../shared/corpus/aeb [--rounds 3] [--code DIR]

Runs `newswatch crawl` over the same local site as crawl_throughput.py, but every
process of the crawl (the fork server and its workers too) loads a sitecustomize that
replaces `newswatch.pipeline.extract.extract_page` with a constant-time stand-in. The workers then
cost almost nothing and do not compete with the crawl process for the two cores, so its
CPU time (download, Scrapy, dedupe, store, hand-off to the pool) is measured on its own:
the figure that decides how close a real crawl gets to twice trafilatura alone.

`--code DIR` runs another checkout of newswatch (put first on PYTHONPATH), to compare
two versions in the same run, alternating."""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.crawl_throughput import (  # noqa: E402
    bench_config,
    build_site,
    free_port,
    start_server,
)

STUB = '''
import hashlib
import newswatch.pipeline.extract as _extract

def extract_page(url, body, header_charset):
    digest = hashlib.md5(body).hexdigest()
    return {"title": "Stand-in " + digest[:8], "text": "word " * 400 + digest,
            "author": None, "date": "2026-11-01T10:00:00+0000", "language": "en",
            "sitename": None, "canonical": None, "fingerprint": digest[:16],
            "encoding": "utf-8"}

_extract.extract_page = extract_page
'''


def crawl(tmp: Path, base: str, code: Path, stub_dir: Path) -> tuple[float, float, int]:
    cfg = bench_config(tmp, base)
    env = {**os.environ, "NEWSWATCH_EXTRACT_WORKERS": "2",
           "PYTHONPATH": os.pathsep.join([str(code), str(stub_dir)])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "newswatch.cli", "crawl", "-c", str(cfg)],
                          cwd=tmp, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"crawl failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    # the fork server is not waited for by the crawl, so this is the crawl process alone
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    con = sqlite3.connect(tmp / "bench.db")
    stored = int(con.execute("select count(*) from articles").fetchone()[0])
    con.close()
    return wall, cpu, stored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--code", type=Path, help="another newswatch checkout to compare")
    args = ap.parse_args()
    versions = [("this checkout", ROOT)]
    if args.code:
        versions.append((str(args.code), args.code.resolve()))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        stub_dir = tmp / "stub"
        stub_dir.mkdir()
        (stub_dir / "sitecustomize.py").write_text(STUB, encoding="utf-8")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        urls = build_site(args.corpus, tmp / "site", args.copies, base)
        server = start_server(tmp / "site", port)
        try:
            print(f"{len(urls)} pages, extraction stubbed out")
            cpus: dict[str, list[float]] = {name: [] for name, _ in versions}
            for n in range(1, args.rounds + 1):
                for name, code in versions:
                    wall, cpu, stored = crawl(tmp, base, code, stub_dir)
                    cpus[name].append(cpu)
                    print(f"round {n}, {name}: {wall:5.1f} s wall, crawl process CPU "
                          f"{cpu:5.2f} s = {1000 * cpu / stored:.2f} ms/page ({stored} stored)")
            for name, values in cpus.items():
                print(f"{name}: median crawl process CPU {statistics.median(values):.2f} s")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
