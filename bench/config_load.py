"""How long a config takes to load, with 100 and 10,000 watches: the load alone
(`load_config`, in a warm process), `newswatch check` in-process (load + the printing),
and `newswatch check` as a command (a fresh interpreter: imports included).

    python bench/config_load.py [--sizes 100 10000] [--rounds 3] [--baseline /work/main]

With --baseline, the same configs are timed against another checkout of newswatch too,
round by round in alternation (each tree is imported in a child interpreter of its own),
so the two are compared under the same load. Prints the best time of the rounds for
each tree and size, and the ratio of this tree's to the baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHAPES = [
    "{a}", '"{a} {b}"', "{a} AND {b}", "{a} OR {b}", "{a}* AND {b}", "{a} NEAR/5 {b}",
    "({a} OR {b}) AND {c}", "{a} -{b}", "title:{a} OR {b}", '"{a} {b}" OR ({c} AND {d})',
    "@topic AND {a}",
]

# timed inside a child interpreter that imports the tree under test: the load alone
# (best of a few, after a first load that pays the imports; the queries' parse cache
# emptied before each, as in a new process) and check in-process
CHILD = """
import contextlib, io, json, sys, time
from newswatch.config.loader import load_config
try:
    from newswatch.cli.main import main
except ImportError:  # a baseline from before the commands had a folder
    from newswatch.cli import main
from newswatch.rules.query import parse_syntax
path, rounds = sys.argv[1], int(sys.argv[2])
load_config(path)
load = check = float("inf")
for _ in range(rounds):
    parse_syntax.cache_clear()  # a fresh process parses every query: so does each round
    t0 = time.perf_counter()
    load_config(path)
    load = min(load, time.perf_counter() - t0)
    parse_syntax.cache_clear()
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(["check", "-c", path])
    check = min(check, time.perf_counter() - t0)
    assert code == 0, out.getvalue()[-2000:]
print(json.dumps({"load": load, "check": check}))
"""


def pseudo_words(n: int, rng: random.Random) -> list[str]:
    """Made-up lowercase words (a query on 'and'/'or' would be refused, so none are)."""
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(consonants) + rng.choice(vowels)
                        for _ in range(rng.randint(2, 4))))
    return sorted(out)


def write_config(folder: Path, watches: int, seed: int = 11) -> Path:
    """A config as a large installation would write it: a few sources, a term set, the
    alerts section, and `watches` watches of the query shapes people use, some with
    their own recipients or digest."""
    rng = random.Random(seed)
    vocab = pseudo_words(5000, rng)
    lines = [
        "database: bench.db",
        "timezone: Europe/Berlin",
        "crawl:",
        "  max_age: 7d",
        "sources:",
    ]
    for i in range(20):
        lines += [f"  - name: site{i}", f"    feeds: [https://news{i}.example.com/feed.xml]",
                  "    every: 10m"]
    lines += ["terms:", "  topic:"] + [f"    - {w}" for w in vocab[:8]]
    lines += ["alerts:", "  to: [desk@example.com]", "  maildir: mail", "watches:"]
    for i in range(watches):
        a, b, c, d = rng.sample(vocab, 4)
        query = SHAPES[i % len(SHAPES)].format(a=a, b=b, c=c, d=d)
        lines += [f"  - name: watch-{i}", "    query: '" + query.replace("'", "''") + "'"]
        if i % 7 == 3:
            lines.append(f"    to: [team{i % 5}@example.com]")
        if i % 5 == 1:
            lines.append("    digest: daily@08:00")
    path = folder / f"watches-{watches}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_tree(tree: Path, config: Path, rounds: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    child = subprocess.run([sys.executable, "-c", CHILD, str(config), str(rounds)],
                           cwd=tree, env=env, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise SystemExit(f"{tree}: the timing child failed:\n{child.stderr[-3000:]}")
    times = json.loads(child.stdout.strip().splitlines()[-1])
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "newswatch.cli", "check", "-c",
                               str(config)], cwd=tree, env=env, capture_output=True,
                              text=True, check=False)
        best = min(best, time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{tree}: check failed:\n{done.stderr[-3000:]}")
    times["command"] = best
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another newswatch checkout")
    args = parser.parse_args(argv)
    trees = {"this": ROOT}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            config = write_config(Path(tmp), size)
            # alternate the trees: whatever else the machine does hits both alike
            for _ in range(args.rounds):
                for name, tree in trees.items():
                    got = run_tree(tree, config, 1)
                    seen = results.setdefault((name, size), got)
                    for key, value in got.items():
                        seen[key] = min(seen[key], value)
    print(f"{'tree':>9} {'watches':>8} {'load s':>8} {'check in-process s':>19} "
          f"{'check command s':>16}")
    for (name, size), t in results.items():
        print(f"{name:>9} {size:>8} {t['load']:>8.3f} {t['check']:>19.3f} "
              f"{t['command']:>16.3f}")
    if args.baseline:
        for size in args.sizes:
            ours, theirs = results[("this", size)], results[("baseline", size)]
            print(f"this / baseline at {size} watches: load "
                  f"{ours['load'] / theirs['load']:.3f}, check in-process "
                  f"{ours['check'] / theirs['check']:.3f}, check command "
                  f"{ours['command'] / theirs['command']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
