"""bench/scale.py's figures for adaptive schedules at scale (issue 24): polls sooner than
a site asked, the fixture server's CPU, the daemon's figures against the goals, and
tracemalloc snapshots of the daemon's processes (--trace-memory)."""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import time
from pathlib import Path

from tests.procs import process_tree

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds a process (alone) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def sooner_than_asked(state: dict[str, object], since: float
                      ) -> tuple[int, int, list[str]]:
    """(feed requests that followed an ask, of them made sooner than asked, examples):
    each site's feed answers' Cache-Control max-age and 429 Retry-After against the
    next feed request the site saw while the daemon ran (from the end of the answer that
    asked to the start of the next request, both as the site measured them)."""
    outlets = state["outlets"]
    hits = state["hits"]
    assert isinstance(outlets, list) and isinstance(hits, list)
    by_host = {o["host"]: o for o in outlets}
    feeds: dict[str, list[tuple[float, float, int]]] = {}
    for host, path, status, began, ended in hits:
        if path == "/feed.xml":
            feeds.setdefault(host, []).append((began, ended, status))
    checked = early = 0
    examples: list[str] = []
    for host, seen in feeds.items():
        seen.sort()
        outlet = by_host[host]
        for (_, ended, status), (began, _, _) in itertools.pairwise(seen):
            if began < since:
                continue
            asked = outlet["retry_after"] if status == 429 else \
                outlet.get("max_age") if status in (200, 304) else None
            if not asked:
                continue
            checked += 1
            if began < ended + asked:
                early += 1
                if len(examples) < 5:
                    examples.append(f"{host}: {began - ended:.1f} s after an answer that "
                                    f"asked {asked} s (HTTP {status})")
    return checked, early, examples


TRACE_HOOK = """\
import os, signal, sys, tracemalloc
_dir = os.environ.get("NW_TRACE_MEMORY")
if _dir:
    tracemalloc.start(1)

    def _dump(signum, frame):
        snap = tracemalloc.take_snapshot()
        base = os.path.join(_dir, str(os.getpid()))
        snap.dump(base + ".part")
        with open(base + ".cmd", "w") as out:
            out.write(" ".join(sys.argv))
        os.replace(base + ".part", base + ".snap")

    signal.signal(signal.SIGUSR2, _dump)
"""


def traced_env(env: dict[str, str], out: Path) -> dict[str, str]:
    """The environment under which every Python process started dumps a tracemalloc
    snapshot into `out` on SIGUSR2 (a sitecustomize module first on the path)."""
    hook = out / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(TRACE_HOOK, encoding="utf-8")
    return {**env, "NW_TRACE_MEMORY": str(out),
            "PYTHONPATH": f"{hook}{os.pathsep}{env['PYTHONPATH']}"}


def dump_traces(pid: int, out: Path) -> None:
    """Ask every process of the tree for its snapshot and wait for them (a heap of
    10,000 sources takes a while to walk)."""
    pids = set(process_tree(pid))
    for p in pids:
        try:
            os.kill(p, signal.SIGUSR2)
        except ProcessLookupError:
            pids.discard(p)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and \
            not all((out / f"{p}.snap").exists() for p in pids):
        time.sleep(1)
    got = sum((out / f"{p}.snap").exists() for p in pids)
    print(f"tracemalloc: {got} of {len(pids)} processes dumped a snapshot into {out}",
          flush=True)


def judge(args: argparse.Namespace, m: dict[str, float], fixed: float, total: int,
          server_cpu: float, asks: tuple[int, int, list[str]]) -> None:
    """The daemon's figures against issue 24's goals for --mix --adaptive on."""
    wall = m["wall"]
    checked, early, examples = asks
    print(f"goal: feed requests >= 5x fewer than fixed polling every {args.every}: "
          f"{fixed / max(total, 1):.1f}x", flush=True)
    print(f"goal: no poll sooner than a site's max-age or Retry-After: {early} of "
          f"{checked} feed requests that followed an ask came sooner", flush=True)
    for line in examples:
        print(f"  sooner than asked: {line}")
    print(f"goal: daemon <= 1.5 GB whole tree: peak {m['pss_mb']:.0f} MB PSS "
          f"({m['rss_mb']:.0f} MB RSS)", flush=True)
    print(f"goal: daemon <= 0.35 core mean: {m['cpu'] / wall:.3f}", flush=True)
    print(f"fixture sites server (not the daemon): {server_cpu:.1f} CPU-s over the "
          f"daemon's run, {server_cpu / wall:.3f} of one core", flush=True)
