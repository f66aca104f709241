"""What grows per source: compare the tracemalloc snapshots of two daemon runs of
bench/scale.py (`--trace-memory DIR`), one with few sources and one with many.

    python bench/memory_growth.py /tmp/trace-2000 2000 /tmp/trace-10000 10000

Per process role (the daemon, its crawl worker, the extraction processes), the Python
memory each traced at the end of its run, and the lines whose allocations grew the most
between the runs, in bytes per source added. Memory outside Python's allocator
(libxml2's, SQLite's page cache, thread stacks) is not traced: bench/scale.py's PSS
of the whole tree is the total."""

from __future__ import annotations

import argparse
import tracemalloc
from collections import defaultdict
from pathlib import Path


def roles(folder: Path) -> dict[Path, str]:
    """Each snapshot's process: the daemon (`run`), its crawl worker (the first process
    started with `worker` in its command line: the extraction processes forked from it
    keep that command line), or an extraction process (those and the fork server)."""
    cmds = {}
    for snap_path in folder.glob("*.snap"):
        cmd_path = snap_path.with_suffix(".cmd")
        cmds[snap_path] = cmd_path.read_text().split() if cmd_path.exists() else []
    workers = sorted((p for p, cmd in cmds.items() if "worker" in cmd),
                     key=lambda p: int(p.stem))
    out = {}
    for path, cmd in cmds.items():
        if "run" in cmd:
            out[path] = "daemon (newswatch run)"
        elif workers and path == workers[0]:
            out[path] = "crawl worker"
        else:
            out[path] = "extraction processes"
    return out


def load(folder: Path) -> dict[str, tuple[int, dict[str, int]]]:
    """role -> (processes, {file:line -> bytes}) summed over the role's processes."""
    out: dict[str, tuple[int, dict[str, int]]] = {}
    for snap_path, name in sorted(roles(folder).items()):
        snap = tracemalloc.Snapshot.load(str(snap_path))
        count, lines = out.get(name, (0, defaultdict(int)))
        for stat in snap.statistics("lineno"):
            frame = stat.traceback[0]
            lines[f"{frame.filename}:{frame.lineno}"] += stat.size
        out[name] = (count + 1, lines)
    return out


def short(where: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.11/", "/newswatch/", "/scale10k/"):
        if marker in where:
            return where.split(marker, 1)[1]
    return where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("small", type=Path)
    parser.add_argument("small_sources", type=int)
    parser.add_argument("big", type=Path)
    parser.add_argument("big_sources", type=int)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    added = args.big_sources - args.small_sources
    small, big = load(args.small), load(args.big)
    for name in sorted(set(small) | set(big)):
        n_small, a = small.get(name, (0, {}))
        n_big, b = big.get(name, (0, {}))
        total_a, total_b = sum(a.values()), sum(b.values())
        print(f"{name}: {n_small} / {n_big} process(es); traced {total_a / 2**20:.1f} MB at "
              f"{args.small_sources} sources, {total_b / 2**20:.1f} MB at {args.big_sources}: "
              f"{(total_b - total_a) / added / 1024:.2f} kB per source added")
        growth = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)),
                        reverse=True)
        for delta, where in growth[:args.top]:
            if delta <= 0:
                break
            print(f"  {delta / added:8.0f} B/source  {short(where)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
