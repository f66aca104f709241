"""Crawl throughput: `newswatch crawl` against trafilatura alone, same pages, same run.

    python bench/crawl_throughput.py ../shared/corpus/aeb [--rounds 3] [--http 1.0]

Serves the corpus's HTML pages (repeated to ~1,800 URLs) from a local HTTP server with
a sitemap, then measures
  1. baseline: the same extraction function over every page, one process, no network;
  2. newswatch: `newswatch crawl` (subprocess, whole command: start-up, download,
     extraction in the worker pool, storage) over the sitemap.
Prints pages/s of both and their ratio.

The local server speaks HTTP/1.1 with keep-alive, as news sites do; `--http 1.0` makes it
close every connection (Python's http.server default), which costs both sides a TCP
set-up per page. Its CPU time is printed too: it shares the machine with the crawl."""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newswatch.pipeline.extract import extract_page  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_site(corpus: Path, out: Path, copies: int, base: str) -> list[tuple[str, bytes]]:
    pages = sorted((corpus / "html").glob("*.html.gz"))
    bodies = [gzip.decompress(p.read_bytes()) for p in pages]
    urls: list[tuple[str, bytes]] = []
    (out / "p").mkdir(parents=True)
    for c in range(copies):
        for i, body in enumerate(bodies):
            name = f"p/{c:02d}-{i:04d}.html"
            (out / name).write_bytes(body)
            urls.append((f"{base}/{name}", body))
    entries = "".join(f"<url><loc>{u}</loc></url>" for u, _ in urls)
    (out / "sitemap.xml").write_text(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{entries}</urlset>", encoding="utf-8")
    return urls


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def baseline(urls: list[tuple[str, bytes]]) -> tuple[float, int]:
    start = time.perf_counter()
    with_text = 0
    for url, body in urls:
        if extract_page(url, body, None).get("text"):
            with_text += 1
    return time.perf_counter() - start, with_text


def bench_config(tmp: Path, base: str) -> Path:
    """A config crawling the local site's sitemap into an empty bench.db."""
    for old in tmp.glob("bench.db*"):  # every round crawls into an empty database
        old.unlink()
    cfg = tmp / "bench.yaml"
    cfg.write_text(f"""database: bench.db
crawl:
  allow_private: [127.0.0.0/8]
  obey_robots: false
  max_age: none
  download_delay: 0s
  concurrency_per_domain: 16
sources:
  - name: corpus
    sitemaps: ["{base}/sitemap.xml"]
""", encoding="utf-8")
    return cfg


def start_server(directory: Path, port: int, http: str = "1.1") -> subprocess.Popen[bytes]:
    """Python's static file server on 127.0.0.1, once it accepts connections."""
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(directory), "--protocol", f"HTTP/{http}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("the local server did not start")


def crawl(tmp: Path, base: str, workers: int) -> tuple[float, int, int]:
    cfg = bench_config(tmp, base)
    env = {**os.environ, "NEWSWATCH_EXTRACT_WORKERS": str(workers)}
    start = time.perf_counter()
    before = os.times()
    proc = subprocess.run([sys.executable, "-m", "newswatch.cli", "crawl", "-c", str(cfg)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = os.times()
    print(f"  (crawl CPU: {after.children_user - before.children_user:.1f} s user, "
          f"{after.children_system - before.children_system:.1f} s system)")
    if proc.returncode != 0:
        sys.exit(f"crawl failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
    con = sqlite3.connect(tmp / "bench.db")
    stored = con.execute("select count(*) from articles").fetchone()[0]
    with_text = con.execute("select count(*) from articles where has_text").fetchone()[0]
    con.close()
    return elapsed, stored, with_text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--http", choices=["1.0", "1.1"], default="1.1")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure baseline and crawl this many times, alternating")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        urls = build_site(args.corpus, tmp / "site", args.copies, base)
        server = start_server(tmp / "site", port, args.http)
        try:
            print(f"{len(urls)} pages, {os.cpu_count()} CPUs, {args.workers} extraction workers")
            ratios, b_rates, c_rates = [], [], []
            for n in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"round {n}:")
                b_time, b_text = baseline(urls)
                b_rates.append(len(urls) / b_time)
                print(f"trafilatura alone, one process: {b_time:7.1f} s  {b_rates[-1]:6.1f} "
                      f"pages/s ({b_text} with text)")
                cpu_before = server_cpu(server.pid)
                c_time, stored, c_text = crawl(tmp, base, args.workers)
                c_rates.append(stored / c_time)
                print(f"newswatch crawl (whole command): {c_time:7.1f} s  {c_rates[-1]:6.1f} "
                      f"pages/s ({stored} stored, {c_text} with text)")
                print(f"  (local HTTP/{args.http} server CPU: "
                      f"{server_cpu(server.pid) - cpu_before:.1f} s)")
                ratios.append(c_rates[-1] / b_rates[-1])
                print(f"ratio: {ratios[-1]:.2f}x")
            if args.rounds > 1:
                print(f"ratios per round: {', '.join(f'{r:.2f}' for r in ratios)}; median "
                      f"{statistics.median(ratios):.2f}x; best crawl / best baseline "
                      f"{max(c_rates) / max(b_rates):.2f}x")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
