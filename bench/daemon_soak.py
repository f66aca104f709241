"""Daemon soak: `newswatch run` over a small local source for N scheduled runs.
Measures the parent's RSS growth (after a warm-up of 10 runs, to the end) and the
distribution of feed-to-inbox delay (an article appears in the feed -> its email lands
in the maildir).

    python bench/daemon_soak.py [--runs 200] [--every 1s] [--new-every 5]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VOCAB = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "si", "tu", "ve", "zo")
         for b in ("bar", "den", "fil", "gor", "hul", "jax", "kem", "lun", "mor", "nix")]
SENTENCE = ("the council met again on monday to discuss licensing rules for exchanges and "
            "wallet providers while officials said the framework would be published soon")


class Site:
    def __init__(self) -> None:
        self.articles: list[tuple[int, float]] = []  # (number, time it entered the feed)
        self.lock = threading.Lock()

    def add(self) -> None:
        with self.lock:
            self.articles.append((len(self.articles) + 1, time.time()))


def handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with site.lock:
                arts = list(site.articles)
            base = f"http://{self.headers['Host']}"
            if self.path == "/feed.xml":
                items = "".join(
                    f"<item><title>Story {n}</title><link>{base}/a/{n}</link>"
                    f"<pubDate>{format_datetime(datetime.fromtimestamp(t, UTC))}</pubDate></item>"
                    for n, t in arts[-20:])
                body = f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'
                ctype = "application/rss+xml"
            elif self.path.startswith("/a/"):
                n = int(self.path.split("/")[2])
                # different words per story: near-identical texts would be one story
                rng = random.Random(n)
                words = SENTENCE.split()
                text = " ".join(rng.choice(VOCAB) for _ in range(120)) + " " + " ".join(words)
                body = (f"<html><head><title>Story {n}</title></head><body><article>"
                        f"<h1>Story {n}: soak council update</h1><p>{text}.</p><p>{text}.</p>"
                        "</article></body></html>")
                ctype = "text/html; charset=utf-8"
            else:
                self.send_response(404)
                self.end_headers()
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
    return H


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--every", default="1s")
    ap.add_argument("--new-every", type=float, default=5.0,
                    help="seconds between new articles in the feed")
    args = ap.parse_args()
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = tmp / "soak.yaml"
        cfg.write_text(f"""database: soak.db
crawl: {{allow_private: [127.0.0.0/8], download_delay: 0s, max_age: none}}
sources:
  - name: soak
    feeds: ["{base}/feed.xml"]
    every: {args.every}
watches:
  - name: soak
    query: 'council AND licensing'
alerts: {{to: [you@example.org], maildir: mail}}
daemon: {{send_every: 1s}}
""", encoding="utf-8")
        env = {**os.environ, "NEWSWATCH_EXTRACT_WORKERS": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "newswatch.cli", "run", "-c", str(cfg)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=(tmp / "daemon.log").open("w"), start_new_session=True)
        db = tmp / "soak.db"

        def runs() -> int:
            if not db.exists():
                return 0
            con = sqlite3.connect(db)
            try:
                return int(con.execute("select count(*) from runs where status != 'running'")
                           .fetchone()[0])
            except sqlite3.OperationalError:
                return 0
            finally:
                con.close()

        warm_rss = 0
        last_new = 0.0
        started = time.time()
        try:
            while (done := runs()) < args.runs:
                if time.time() - last_new >= args.new_every:
                    site.add()
                    last_new = time.time()
                if done >= 10 and not warm_rss:
                    warm_rss = rss_kb(proc.pid)
                if proc.poll() is not None:
                    sys.exit("the daemon died; see its log")
                time.sleep(0.2)
            time.sleep(3)  # the last emails
            end_rss = rss_kb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        delays = []
        entered = dict(site.articles)
        for f in (tmp / "mail" / "new").iterdir():
            msg = message_from_bytes(f.read_bytes(), policy=policy.default)
            body = msg.get_body(("plain",))
            text = str(body.get_content()) if body is not None else ""
            for n in {int(w.split()[1].rstrip(":")) for w in text.splitlines()
                      if w.startswith("Story ")}:
                if n in entered:
                    delays.append(f.stat().st_mtime - entered[n])
        elapsed = time.time() - started
        growth = 100.0 * (end_rss - warm_rss) / warm_rss if warm_rss else float("nan")
        print(f"{args.runs} runs in {elapsed:.0f} s; {len(site.articles)} articles added")
        print(f"parent RSS: {warm_rss / 1024:.1f} MiB after 10 runs, {end_rss / 1024:.1f} MiB "
              f"after {args.runs}: {growth:+.1f}% (target < 5%)")
        if len(delays) >= 2:
            q = statistics.quantiles(delays, n=10)
            print(f"feed-to-inbox delay over {len(delays)} articles: min {min(delays):.1f} s, "
                  f"median {statistics.median(delays):.1f} s, p90 {q[-1]:.1f} s, "
                  f"max {max(delays):.1f} s")


if __name__ == "__main__":
    main()
