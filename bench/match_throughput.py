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
from pathlib import Path

from rules.matcher import Document, Matcher
from rules.normalize import tokenize

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
    """The naive way: one case-insensitive regex of a watch's terms, then booleans."""

    def __init__(self, query: str):
        words = re.findall(r"[a-z]+", query)
        self.query = query
        self.terms = words
        alternation = "|".join(re.escape(w) + (r"\w*" if f"{w}*" in query else "")
                               for w in sorted(set(words), key=len, reverse=True))
        self.regex = re.compile(r"\b(?:" + alternation + r")\b", re.IGNORECASE)

    def matches(self, text: str) -> bool:
        found = {m.group().lower() for m in self.regex.finditer(text)}
        return any(w in found or any(f.startswith(w) for f in found) for w in self.terms[:1])


def time_matcher(matcher: Matcher, docs: list[dict[str, str]], rounds: int) -> tuple[float, int]:
    n = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for d in docs:
            n += len(matcher.match(Document.of(**d)))
    return (rounds * len(docs)) / (time.perf_counter() - start), n


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


def config_load_time(watches: list[tuple[str, str]]) -> float:
    from config.loader import load_config

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
    print(f"{'watches':>8} {'aho-corasick art/s':>19} {'matches':>8} {'regex art/s':>12} "
          f"{'speed-up':>9}")
    results = {}
    for size in args.sizes:
        watches = make_watches(size, vocab)
        matcher = Matcher(watches)
        speed, found = time_matcher(matcher, docs, args.rounds)
        regex_speed = time_regex([RegexWatch(q) for _, q in watches], docs, args.regex_budget)
        results[size] = (speed, regex_speed)
        print(f"{size:>8} {speed:>19.0f} {found // args.rounds:>8} {regex_speed:>12.1f} "
              f"{speed / regex_speed:>8.0f}x")
    small, large = min(results), max(results)
    cost_ratio = results[small][0] / results[large][0]
    print(f"cost per article, {large} watches vs {small}: {cost_ratio:.2f}x (target <= 2)")
    print(f"speed-up over one regex per watch at {large}: "
          f"{results[large][0] / results[large][1]:.0f}x (target >= 50)")
    load = config_load_time(make_watches(large, vocab))
    print(f"config with {large} watches loads and compiles in {load:.2f} s (target < 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
