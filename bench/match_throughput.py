"""Matching speed with 10, 1,000 and 10,000 generated watches, beside one regex per
watch, over the article texts of a ground-truth corpus (same run, same texts).

    python -m bench.match_throughput ../shared/corpus/aeb [--sizes 10 1000 10000]

Prints articles/s for both, the cost ratio of the largest size to the smallest, the
speed-up over regex at the largest size, and how long a config with that many watches
takes to load (YAML + validation + compile).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from newswatch.rules.matcher import Document, Matcher
from newswatch.rules.normalize import tokenize
from newswatch.rules.query import All, Any_, Leaf, Near, Node, Not, parse_query

SHAPES = [
    "{a}", '"{a} {b}"', "{a} AND {b}", "{a} OR {b}", "{a}* AND {b}", "{a} NEAR/5 {b}",
    "({a} OR {b}) AND {c}", "{a} -{b}", "title:{a} OR {b}", '"{a} {b}" OR ({c} AND {d})',
]


def load_texts(corpus: Path) -> list[dict[str, str]]:
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    docs = []
    for key, entry in truth.items():
        body = entry.get("articleBody") or ""
        first = body.strip().split("\n", 1)[0][:120]
        docs.append({"title": first, "text": body, "url": f"https://example.com/{key}",
                     "source": "corpus"})
    return docs


def vocabulary(docs: list[dict[str, str]], share: float) -> list[str]:
    """The words a watch would be written with: plain ASCII words of the corpus found in
    at most `share` of its articles (a watch on a word in every article is not a watch)."""
    seen: Counter[str] = Counter()
    for d in docs:
        seen.update({w for w in tokenize(d["text"]).folded if w.isalpha() and w.isascii()})
    limit = max(1, int(share * len(docs)))
    ops = {"and", "or", "not", "near"}
    return sorted(w for w, n in seen.items() if n <= limit and len(w) > 2 and w not in ops)


def make_watches(n: int, vocab: list[str], seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b, c, d = rng.sample(vocab, 4)
        out.append((f"w{i}", SHAPES[i % len(SHAPES)].format(a=a, b=b, c=c, d=d)))
    return out


class RegexWatch:
    """The naive way: one case-insensitive regex per watch finds which of its terms
    occur, then the query's booleans are evaluated over them (NEAR taken as AND)."""

    def __init__(self, query: str):
        self.node = parse_query(query)
        terms = sorted({leaf.term.key.strip() + ("*" if leaf.term.prefix else "")
                        for leaf in _leaves(self.node)}, key=len, reverse=True)
        parts = [re.escape(t.rstrip("*")).replace(r"\ ", r"\W+") +
                 (r"\w*" if t.endswith("*") else "") for t in terms]
        self.terms = terms
        self.regex = re.compile(r"\b(?:" + "|".join(f"({p})" for p in parts) + r")\b",
                                re.IGNORECASE)

    def matches(self, text: str) -> bool:
        found: set[str] = set()
        for m in self.regex.finditer(text):
            found.update(t for t, g in zip(self.terms, m.groups(), strict=True) if g)
        return _holds(self.node, found)


def _leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, Any_ | All):
        return [x for c in node.children for x in _leaves(c)]
    if isinstance(node, Not):
        return _leaves(node.child)
    if isinstance(node, Near):
        return _leaves(node.left) + _leaves(node.right)
    return []


def _holds(node: Node, found: set[str]) -> bool:
    if isinstance(node, Leaf):
        return node.term.key.strip() + ("*" if node.term.prefix else "") in found
    if isinstance(node, Any_):
        return any(_holds(c, found) for c in node.children)
    if isinstance(node, All):
        return all(_holds(c, found) for c in node.children)
    if isinstance(node, Not):
        return not _holds(node.child, found)
    if isinstance(node, Near):
        return _holds(node.left, found) and _holds(node.right, found)
    return False


def best_rate(run: Callable[[dict[str, str]], object], docs: list[dict[str, str]],
              rounds: int) -> float:
    """Articles/s: the best of `rounds` timed passes after one warm-up pass."""
    for d in docs:
        run(d)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for d in docs:
            run(d)
        best = min(best, time.perf_counter() - start)
    return len(docs) / best


def time_regex(watches: list[RegexWatch], docs: list[dict[str, str]], budget: float) -> float:
    done = 0
    start = time.perf_counter()
    while True:
        for d in docs:
            text = d["title"] + "\n" + d["text"]
            for w in watches:
                w.matches(text)
            done += 1
            if time.perf_counter() - start > budget and done >= 3:
                return done / (time.perf_counter() - start)


def phases(matcher: Matcher, docs: list[dict[str, str]], rounds: int) -> tuple[float, ...]:
    """Milliseconds per article spent tokenizing, scanning and testing candidates, timed
    inside one loop (as matching runs, so each phase pays its cache misses); best of
    `rounds` passes."""
    clock = time.perf_counter
    best: tuple[float, ...] | None = None
    for _ in range(rounds + 1):
        spent = [0.0, 0.0, 0.0]
        for d in docs:
            t0 = clock()
            doc = Document.of(**d)
            t1 = clock()
            hits = matcher.scan(doc)
            t2 = clock()
            matcher.matching_indexes(hits)
            t3 = clock()
            spent[0] += t1 - t0
            spent[1] += t2 - t1
            spent[2] += t3 - t2
        if best is None or sum(spent) < sum(best):
            best = tuple(x / len(docs) * 1000 for x in spent)
    assert best is not None
    return best


def config_load_time(watches: list[tuple[str, str]]) -> float:
    from newswatch.config.loader import load_config

    lines = ["database: bench.db", "watches:"]
    for name, query in watches:
        lines.append(f"  - name: {name}")
        lines.append("    query: '" + query.replace("'", "''") + "'")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        start = time.perf_counter()
        config = load_config(path)
        Matcher([(w.name, w.query) for w in config.watches], config.terms)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--share", type=float, default=0.03,
                        help="watch words are found in at most this share of the articles")
    parser.add_argument("--regex-budget", type=float, default=10.0,
                        help="seconds spent timing the regex baseline per size")
    args = parser.parse_args(argv)
    docs = load_texts(args.corpus)
    vocab = vocabulary(docs, args.share)
    words = sum(len(d["text"].split()) for d in docs) / len(docs)
    print(f"{len(docs)} articles, {words:.0f} words on average; vocabulary {len(vocab)} words")
    print("art/s = articles per second; 'decide' finds which watches match, 'full' also "
          "builds the hit lists and snippets that are stored")
    print(f"{'watches':>8} {'decide art/s':>13} {'full art/s':>11} {'matches/art':>12} "
          f"{'regex art/s':>12} {'speed-up':>9}")
    results = {}
    split: dict[int, tuple[float, ...]] = {}
    for size in args.sizes:
        watches = make_watches(size, vocab)
        matcher = Matcher(watches)
        # 'decide': which watches match; 'full': also the hit lists and snippets stored
        decide = best_rate(lambda d, m=matcher: m.matching_names(Document.of(**d)), docs,
                           args.rounds)
        # a Match makes its hits and snippets when read: 'full' reads them, as the store
        speed = best_rate(lambda d, m=matcher: [(x.hits, x.snippets)
                                                for x in m.match(Document.of(**d))],
                          docs, args.rounds)
        found = sum(len(matcher.match(Document.of(**d))) for d in docs)
        regex_speed = time_regex([RegexWatch(q) for _, q in watches], docs, args.regex_budget)
        results[size] = (decide, speed, regex_speed)
        print(f"{size:>8} {decide:>13.0f} {speed:>11.0f} {found / len(docs):>12.2f}"
              f" {regex_speed:>12.1f} {decide / regex_speed:>8.0f}x")
        split[size] = phases(matcher, docs, args.rounds)
    small, large = min(results), max(results)
    print(f"cost per article, {large} watches vs {small}: "
          f"decide {results[small][0] / results[large][0]:.2f}x, "
          f"full {results[small][1] / results[large][1]:.2f}x (target <= 2)")
    print(f"speed-up over one regex per watch at {large}: "
          f"{results[large][0] / results[large][2]:.0f}x decide, "
          f"{results[large][1] / results[large][2]:.0f}x full (target >= 50)")
    for size, (tok, scan, tests) in split.items():
        print(f"ms per article at {size}: tokenize {tok:.3f}, scan {scan:.3f}, "
              f"candidate tests {tests:.3f}")
    load = config_load_time(make_watches(large, vocab))
    print(f"config with {large} watches loads and compiles in {load:.2f} s (target < 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
