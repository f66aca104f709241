"""Scale on one machine: many feed sources, one crawl engine.

    python bench/scale.py --sites 2000 [--every 2m] [--daemon 10m] [--publish-every 20m]
    python bench/scale.py --sites 200 --daemon 0      # the two crawls only
    python bench/scale.py --sites 10000 --mix --adaptive on --daemon 30m

A local "internet" (tests/site/many.py, in a process of its own): N news sites on N
loopback addresses, one listening socket each, with robots.txt, an RSS feed with ETag
and Last-Modified (304 when unchanged), article pages of 40-90 KB with menus, sidebars
and scripts, 50-250 ms per response. Then:

  1. a first `newswatch crawl` of every source (3 articles each);
  2. the same crawl again, nothing changed (every feed answers 304), and once more for
     one source only: the start-up, to tell the cost of each source from the fixed cost;
  3. `newswatch run` for --daemon, while each site publishes an article every
     --publish-every on its own clock (a third of them match the watch).

Beside each re-crawl, a bare asyncio HTTP client (bench/bare_client.py, in a process of
its own) makes the requests an unchanged re-crawl makes (robots.txt, then the feed with the
validators newswatch stored, answered 304) to the same sites: its CPU is the floor that
newswatch's is compared with (newswatch CPU / bare CPU, both whole processes, start-up
included). Two such clients: aiohttp (a real HTTP client library, as a hand-written
poller would use) and raw asyncio streams (no HTTP library at all).

For each: wall time, CPU seconds of the whole process tree (the command and every
process under it), and its peak memory (sum of PSS, which counts shared pages once;
the sum of RSS too). For the daemon: polls due and polls started within 30 s of their
time (fixed schedules), the feed requests made against what fixed polling every
--every would make, and the delay from each matching article's publication to its
email (per publishing class with --mix).

--adaptive on gives every source `every_max: --every-max` (adaptive schedules); off (the
default) `every_max` equal to `every`, a fixed clock. --mix: the sites publish at a
realistic mix of rates (10% every 10-30 min, 60% two to six times a day, 30% weekly)
instead of every --publish-every, with their feeds' history at the same rates; a fifth
of them ask for a Cache-Control max-age and a few answer 429 with a Retry-After (see
tests/site/many.py), and the watch matches every story (so that a short run has alerts
of every class to time). The daemon's figures are set against issue 24's goals: feed
requests against fixed polling every --every, publication to email per class, polls
sooner than a site asked (none allowed), the tree's memory and mean CPU. The fixture
server's own CPU is measured apart (it must not be what limits the run).

    python bench/scale.py --sites 10000 --mix --adaptive on --every 2m --every-max 6h \
        --daemon 30m

--trace-memory DIR: every process of the daemon's tree runs with tracemalloc and dumps a
snapshot into DIR just before the daemon is stopped; bench/memory_growth.py compares two
such runs (say 2,000 and 10,000 sites) and says what grows per source."""

from __future__ import annotations

import argparse
import email
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale_goals import (  # noqa: E402
    dump_traces,
    judge,
    process_cpu,
    sooner_than_asked,
    traced_env,
)
from newswatch.config.units import format_duration, parse_duration  # noqa: E402
from tests.procs import process_tree  # noqa: E402
from tests.site.many import address, headline  # noqa: E402

ON_TIME = 30.0  # seconds after its due time that a poll still counts as on time


TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> dict[int, tuple[int, float]]:
    """The process and all under it: pid -> (start time, CPU seconds so far)."""
    return {p: (int(f[19]), (int(f[11]) + int(f[12])) / TICK)
            for p, f in process_tree(pid).items()}


def memory(pids: set[int]) -> tuple[int, int]:
    """(PSS, RSS) bytes summed over the processes."""
    pss = rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return pss, rss


class Measured:
    """A command run as a child; its tree sampled twice a second for memory (peak) and
    CPU (each process's own, as last seen: its final half second may be missed; rusage
    would miss more, as a process that ends with os._exit never waits for its own). The
    command's own process is counted exactly: its rusage once it has been waited for
    (a short command, such as the bare client, would lose much of its CPU otherwise)."""

    def __init__(self, cmd: list[str], log: Path, env: dict[str, str]):
        self.cpu: dict[tuple[int, int], float] = {}
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env)
        self.peak_pss = self.peak_rss = 0
        self.done = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def _sample(self) -> None:
        while not self.done.wait(0.5):
            procs = tree(self.proc.pid)
            for pid, (born, cpu) in procs.items():
                self.cpu[(pid, born)] = cpu
            pss, rss = memory(set(procs))
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)

    def wait(self) -> dict[str, float]:
        code = self.proc.wait()
        wall = time.monotonic() - self.start
        self.done.set()
        self.sampler.join()
        # one command measured at a time: the children's rusage grew by this one's (and
        # by that of the processes it waited for, which sampling may have seen too)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = (after.ru_utime - self.children.ru_utime) + (after.ru_stime
                                                           - self.children.ru_stime)
        mine = [key for key in self.cpu if key[0] == self.proc.pid]
        for key in mine:
            self.cpu[key] = max(self.cpu[key], own)
        if not mine:
            self.cpu[(self.proc.pid, 0)] = own
        return {"exit": code, "wall": wall, "cpu": sum(self.cpu.values()),
                "pss_mb": self.peak_pss / 2**20, "rss_mb": self.peak_rss / 2**20}


def bare_client(work: Path, env: dict[str, str], kind: str, sites: int,
                newswatch_cpu: float) -> None:
    """Run the bare client as a process of its own and print its figures and the ratio."""
    log = work / f"bare-{kind}.log"
    m = Measured([sys.executable, str(ROOT / "bench" / "bare_client.py"), kind,
                  str(work / "nw.db")], log, env).wait()
    answers = log.read_text().strip().splitlines()[-1:] or ["?"]
    print(f"  bare {kind} client, same requests: exit {m['exit']}, wall {m['wall']:.1f} s, "
          f"CPU {m['cpu']:.2f} s ({1000 * m['cpu'] / sites:.2f} ms per source; answers "
          f"{answers[0]}): newswatch / bare CPU = {newswatch_cpu / max(m['cpu'], 0.01):.1f}x",
          flush=True)


WATCHED = '"crypto council"'  # every third story (tests/site/many.py)
EVERY_STORY = "outlet"  # every story's headline names its outlet: with --mix, so that a
# short run has alerts of every class to time


def write_config(work: Path, port: int, sites: int, every: str, every_max: str,
                 query: str = WATCHED) -> Path:
    sources = "".join(
        f"  - name: site{i}\n    feeds: [\"http://{address(i)}:{port}/feed.xml\"]\n"
        f"    every: {every}\n    every_max: {every_max}\n" for i in range(sites))
    cfg = work / "newswatch.yaml"
    cfg.write_text(dedent(f"""\
        database: nw.db
        crawl:
          allow_private: [127.0.0.0/8]
          max_age: 30d
          download_delay: 0s
        watches:
          - name: council
            query: '{query.replace("'", "''")}'
        alerts:
          to: [desk@example.org]
          maildir: mail
        sources:
        """) + sources, encoding="utf-8")
    return cfg


def report(name: str, m: dict[str, float], sources: int) -> None:
    print(f"{name}: exit {m['exit']}, wall {m['wall']:.1f} s, CPU {m['cpu']:.1f} s "
          f"({1000 * m['cpu'] / sources:.1f} ms per source), peak memory {m['pss_mb']:.0f} MB "
          f"PSS ({m['rss_mb']:.0f} MB RSS)", flush=True)


def polls_on_time(db: Path, since: float, until: float, interval: float) -> tuple[int, int, int]:
    """(due, started within ON_TIME of their time, runs not ok). A source's first poll is
    due an interval after its last run before the daemon started (at once if that is
    past); each later one an interval after the one before it started (APScheduler moves
    each firing by up to 10% of the interval, at most 30 s, either way)."""
    con = sqlite3.connect(db)
    rows = con.execute("select source, started, status from runs").fetchall()
    con.close()
    before: dict[str, float] = {}
    starts: dict[str, list[float]] = {}
    bad = 0
    for source, started, status in rows:
        t = datetime.fromisoformat(started).replace(tzinfo=UTC).timestamp()
        if t < since:
            before[source] = max(before.get(source, 0.0), t)
        elif t <= until:
            starts.setdefault(source, []).append(t)
            bad += status != "ok"
    jitter = min(interval * 0.1, 30.0)
    due = met = 0
    for source in set(before) | set(starts):
        times = sorted(starts.get(source, []))
        slot = max(since, before.get(source, since - interval) + interval)
        while slot <= until - ON_TIME - jitter:
            due += 1
            # APScheduler's jitter moves a firing either way
            hit = next((t for t in times if slot - jitter - 1 <= t <= slot + jitter + ON_TIME),
                       None)
            met += hit is not None
            slot = (hit if hit is not None else slot) + interval
    return due, met, bad


def publishing_class(every: float) -> str:
    """The class of an outlet by how often it publishes (as tests/site/many.py mixes)."""
    if every < 3600:
        return "every 10-30 min"
    if every < 2 * 86400:
        return "a few times a day"
    return "weekly"


def requests_made(state: dict[str, object], since: float, until: float) -> dict[str, int]:
    """Feed requests the sites saw while the daemon ran, by publishing class."""
    outlets = state["outlets"]
    hits = state["hits"]
    assert isinstance(outlets, list) and isinstance(hits, list)
    kind = {o["host"]: publishing_class(o["every"]) for o in outlets}
    made: dict[str, int] = {}
    for host, path, _status, began, _ended in hits:
        if path == "/feed.xml" and since <= began <= until:
            made[kind[host]] = made.get(kind[host], 0) + 1
    return made


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def email_delays(work: Path, state: dict[str, object], since: float, until: float,
                 horizon: Callable[[float], float], every_story: bool = False
                 ) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Publication-to-email delays of the matching articles published while the daemon
    ran (those it had time to catch: `horizon(every)` seconds before its end), and how
    many of them were never emailed, by publishing class."""
    sent: dict[str, float] = {}
    for path in (work / "mail" / "new").iterdir():
        at = path.stat().st_mtime
        msg = email.message_from_bytes(path.read_bytes())
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                for url in re.findall(r"^(http://127\.1\.\S+?)\r?$", payload.decode(), re.M):
                    sent[url] = min(sent.get(url, at), at)
    clock = state["clock"]
    assert isinstance(clock, float)
    port = state["port"]
    delays: dict[str, list[float]] = {}
    missed: dict[str, int] = {}
    outlets = state["outlets"]
    assert isinstance(outlets, list)
    for index, o in enumerate(outlets):
        n = len(o["published"])
        kind = publishing_class(o["every"])
        while True:
            when = clock + o["phase"] + (n - len(o["published"])) * o["every"]
            if when > until - horizon(o["every"]):
                break
            if when >= since and (every_story or "crypto council" in headline(index, n)):
                url = f"http://{o['host']}:{port}/news/{n}.html"
                if url in sent:
                    delays.setdefault(kind, []).append(sent[url] - when)
                else:
                    missed[kind] = missed.get(kind, 0) + 1
            n += 1
    return delays, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--every", default="2m", help="each source's poll interval")
    parser.add_argument("--daemon", default="10m", help="how long the daemon runs (0: not)")
    parser.add_argument("--publish-every", default="20m",
                        help="each site publishes an article this often while the daemon runs")
    parser.add_argument("--mix", action="store_true",
                        help="a realistic mix of publishing rates instead of --publish-every")
    parser.add_argument("--adaptive", choices=("on", "off"), default="off",
                        help="adaptive schedules (every_max: --every-max) or a fixed clock")
    parser.add_argument("--every-max", default="6h")
    parser.add_argument("--initial", type=int, default=3,
                        help="articles each site has out before the daemon starts (0: the "
                             "first crawl finds empty feeds, for measuring the re-crawls "
                             "alone)")
    parser.add_argument("--crawls", choices=("all", "first", "none"), default="all",
                        help="the crawls before the daemon: all three, the first only, or "
                             "none (the daemon starts on an empty store and makes every "
                             "source's first poll itself)")
    parser.add_argument("--trace-memory", type=Path, default=None, metavar="DIR",
                        help="tracemalloc snapshots of the daemon's processes into DIR")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--rounds", type=int, default=1,
                        help="unchanged re-crawls (each beside the bare clients)")
    parser.add_argument("--bare", default="aiohttp,streams",
                        help="bare clients to compare each re-crawl with (aiohttp, streams)")
    args = parser.parse_args()
    bares = [b for b in args.bare.split(",") if b]
    interval = parse_duration(args.every).total_seconds()
    adaptive = args.adaptive == "on"
    slowest = parse_duration(args.every_max).total_seconds() if adaptive else interval
    run_for = 0.0 if args.daemon.strip() in ("0", "none") else \
        parse_duration(args.daemon).total_seconds()
    publish = parse_duration(args.publish_every).total_seconds()
    work = Path(tempfile.mkdtemp(prefix="nw-scale-"))
    state_file = work / "server.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.site.many", "--sites", str(args.sites), "--every",
         str(publish), "--state", str(state_file), "--initial", str(args.initial),
         *(["--mix"] if args.mix else [])],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    cfg = write_config(work, port, args.sites, args.every,
                       args.every_max if adaptive else args.every,
                       EVERY_STORY if args.mix else WATCHED)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "newswatch.cli"]
    print(f"{args.sites} feed sources on {args.sites} loopback addresses (port {port}); "
          f"work folder {work}", flush=True)
    try:
        if args.crawls != "none":
            first = Measured([*cli, "crawl", "-c", str(cfg)], work / "crawl1.log", env).wait()
            report("first crawl", first, args.sites)
        if args.crawls == "all":
            for n in range(1, args.rounds + 1):
                again = Measured([*cli, "crawl", "-c", str(cfg)], work / "crawl2.log",
                                 env).wait()
                report("unchanged re-crawl" + (f" (round {n})" if args.rounds > 1 else ""),
                       again, args.sites)
                for kind in bares:
                    bare_client(work, env, kind, args.sites, again["cpu"])
            one = Measured([*cli, "crawl", "-c", str(cfg), "--source", "site0"],
                           work / "crawl3.log", env).wait()
            report("unchanged re-crawl of one source (the start-up)", one, 1)
            per = (again["cpu"] - one["cpu"]) / max(args.sites - 1, 1)
            print(f"unchanged re-crawl: {1000 * per:.2f} ms of CPU per source beyond the "
                  f"start-up; {args.sites / max(again['wall'] - one['wall'], 0.001):.0f} "
                  "sources/s", flush=True)
        if run_for > 0:
            server.send_signal(signal.SIGUSR1)  # the sites start publishing
            since = time.time()
            server_before = process_cpu(server.pid)
            denv = env if args.trace_memory is None else traced_env(env, args.trace_memory)
            daemon = Measured([*cli, "run", "-c", str(cfg)], work / "daemon.log", denv)
            time.sleep(run_for)
            until = time.time()
            server_cpu = process_cpu(server.pid) - server_before
            if args.trace_memory is not None:
                dump_traces(daemon.proc.pid, args.trace_memory)
            daemon.proc.send_signal(signal.SIGTERM)
            m = daemon.wait()
            report(f"daemon for {format_duration(parse_duration(args.daemon))}", m,
                   args.sites)
            print(f"daemon: mean CPU {m['cpu'] / m['wall']:.3f} of one core", flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    if run_for > 0:
        state = json.loads(state_file.read_text())
        if not adaptive:
            due, met, bad = polls_on_time(work / "nw.db", since, until, interval)
            print(f"daemon: {met} of {due} due polls started within {ON_TIME:.0f} s of "
                  f"their time ({100 * met / max(due, 1):.2f}%); {bad} runs not ok")
        made = requests_made(state, since, until)
        fixed = args.sites * (until - since) / interval
        total = sum(made.values())
        print(f"daemon: {total} feed requests in {until - since:.0f} s (by class: "
              + ", ".join(f"{k} {v}" for k, v in sorted(made.items()))
              + f"); fixed polling every {args.every} makes at most {fixed:.0f} in that time "
              f"({fixed / max(total, 1):.1f}x; a run with --adaptive off measures it)")
        asks = sooner_than_asked(state, since)
        if adaptive and args.mix:
            judge(args, m, fixed, total, server_cpu, asks)
        else:
            print(f"fixture sites server: {server_cpu:.1f} CPU-s over the daemon's run, "
                  f"{server_cpu / m['wall']:.3f} of one core; {asks[1]} of {asks[0]} feed "
                  "requests that followed an ask came sooner than asked")

        def horizon(every: float) -> float:
            # an article has had its chance once its class's bound has passed: the
            # interval (every for the busy, every_max for the others) and a minute or two
            return interval + 60 if every < 3600 or not adaptive else slowest + 120

        delays, missed = email_delays(work, state, since, until, horizon, args.mix)
        for kind in sorted(set(delays) | set(missed)):
            got = delays.get(kind, [])
            goal = ""
            if adaptive and args.mix:
                bound = 180 if kind == "every 10-30 min" else slowest + 120
                goal = f" (goal: p95 <= {bound:.0f} s, none missed)"
            if got:
                print(f"daemon: {kind}: {len(got)} matching articles emailed, "
                      f"{missed.get(kind, 0)} never; publication to email: median "
                      f"{sorted(got)[len(got) // 2]:.0f} s, p95 {p95(got):.0f} s, max "
                      f"{max(got):.0f} s{goal}", flush=True)
            else:
                print(f"daemon: {kind}: none emailed ({missed.get(kind, 0)} missed){goal}")
        outlets = state["outlets"]
        assert isinstance(outlets, list)
        classes = {publishing_class(o["every"]): o["every"] for o in outlets}
        for kind, every in sorted(classes.items()):
            if kind not in delays and kind not in missed:
                need = timedelta(seconds=round(horizon(every)))
                print(f"daemon: {kind}: no matching article was published early enough "
                      f"to judge (that needs a run longer than {format_duration(need)})")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
