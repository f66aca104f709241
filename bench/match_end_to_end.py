"""Matching cost end to end: `newswatch backtest` minus `newswatch check`, with 10 and
with 10,000 watches over the same stored articles (a ground-truth corpus's texts, stored
--copies times), as commands in fresh interpreters.

    python bench/match_end_to_end.py ../shared/corpus/aeb [--baseline /work/main]

The watches are bench/match_throughput.py's (words found in at most --share of the
articles). Prints, per tree, the best of --rounds for each command and size, and the
cost ratio (backtest - check at 10,000) / (backtest - check at 10). With --baseline the
trees alternate round by round, so both see the same load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.match_throughput import load_texts, make_watches, vocabulary  # noqa: E402


def fill(db: Path, docs: list[dict[str, str]], copies: int) -> None:
    from sqlalchemy import insert

    from newswatch.store import schema
    from newswatch.store.db import Store

    store = Store(f"sqlite:///{db}")
    now = datetime.now(UTC)
    rows = []
    for c in range(copies):
        for i, d in enumerate(docs):
            n = c * len(docs) + i + 1
            seen = now - timedelta(minutes=n)
            rows.append({"id": n, "url_key": f"k{n}", "url": f"{d['url']}?copy={c}",
                         "source": d["source"], "title": d["title"], "text": d["text"],
                         "published": seen, "first_seen": seen, "too_old": False,
                         "has_text": True})
    with store.tx() as conn:
        conn.execute(insert(schema.articles), rows)
    store.close()


def write_config(folder: Path, db: Path, watches: list[tuple[str, str]]) -> Path:
    lines = [f"database: {db}", "alerts:", "  to: [desk@example.com]", "watches:"]
    for name, query in watches:
        lines += [f"  - name: {name}", "    query: '" + query.replace("'", "''") + "'"]
    path = folder / f"watches-{len(watches)}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def timed(tree: Path, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "200"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "newswatch.cli", *args], cwd=tree, env=env,
                          capture_output=True, text=True, check=False)
    spent = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sizes", type=int, nargs=2, default=[10, 10000])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--share", type=float, default=0.03)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another newswatch checkout")
    args = parser.parse_args(argv)
    docs = load_texts(args.corpus)
    vocab = vocabulary(docs, args.share)
    trees = {"this": ROOT}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    best: dict[tuple[str, int, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "articles.db"
        fill(db, docs, args.copies)
        # a database of its own per tree: opening one migrates it to the tree's schema
        configs: dict[str, dict[int, Path]] = {}
        for name in trees:
            own = folder / name
            own.mkdir()
            shutil.copy(db, own / db.name)
            configs[name] = {n: write_config(own, own / db.name, make_watches(n, vocab))
                             for n in args.sizes}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                for size, config in configs[name].items():
                    for command in ("check", "backtest"):
                        extra = ["--since", "all"] if command == "backtest" else []
                        spent = timed(tree, [command, "-c", str(config), *extra])
                        key = (name, size, command)
                        best[key] = min(best.get(key, spent), spent)
    small, large = args.sizes
    print(f"{len(docs) * args.copies} stored articles; watch words in at most "
          f"{args.share:.0%} of them")
    print(f"{'tree':>9} {'watches':>8} {'check s':>8} {'backtest s':>11} {'matching s':>11}")
    for name in trees:
        for size in args.sizes:
            check, backtest = best[(name, size, "check")], best[(name, size, "backtest")]
            print(f"{name:>9} {size:>8} {check:>8.2f} {backtest:>11.2f} "
                  f"{backtest - check:>11.2f}")
        cost = [best[(name, n, "backtest")] - best[(name, n, "check")] for n in (small, large)]
        print(f"{name:>9}: matching cost at {large} watches / at {small}: "
              f"{cost[1] / cost[0]:.2f}x (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
