"""The adaptive schedule's rule alone (newswatch.config.pacing.decide), run on simulated time
over days: no crawl, no daemon, no HTTP; what the rule would do with sites publishing
at a realistic mix of rates (10% every 10-30 min, 60% two to six times a day, 30%
weekly), against fixed polling every `--every`.

    python bench/adaptive_rule.py --sites 1000 --days 7 [--every 2m] [--every-max 6h]
    python bench/adaptive_rule.py --sites 10000 --days 0.0208 --warm-up 0 --history 0

--history N: each site's feed shows N dated entries at its first poll (default 10), from
which the rule seeds the source's rate; 0 shows none (the rule starts at every).

Prints the polls made against fixed polling, and per class the delay from each
publication to the poll that finds it (median, p95, max). The real daemon adds its
own delays (the queue, the crawl, the send interval): bench/scale.py measures those."""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newswatch.config.pacing import Limits, Polled, decide  # noqa: E402
from newswatch.config.units import parse_duration  # noqa: E402

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def site_gap(rng: random.Random) -> tuple[str, float]:
    pick = rng.random()
    if pick < 0.1:
        return "every 10-30 min", rng.uniform(600, 1800)
    if pick < 0.7:
        return "a few times a day", 86400 / rng.uniform(2, 6)
    return "weekly", 7 * 86400.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--every", default="2m")
    parser.add_argument("--every-max", default="6h")
    parser.add_argument("--warm-up", type=float, default=1.0,
                        help="days before counting (a schedule learns first)")
    parser.add_argument("--history", type=int, default=10,
                        help="dated entries in a site's feed at its first poll, at its "
                             "rate (0: none, the rule starts at every and backs off)")
    args = parser.parse_args()
    limits = Limits(parse_duration(args.every).total_seconds(),
                    parse_duration(args.every_max).total_seconds())
    rng = random.Random(11)
    end = args.days * 86400
    warm = args.warm_up * 86400
    polls = 0
    delays: dict[str, list[float]] = {}
    per_class: dict[str, int] = {}
    for _ in range(args.sites):
        kind, gap = site_gap(rng)
        per_class[kind] = per_class.get(kind, 0) + 1
        # publications: regular, with its own phase (as tests/site/many.py publishes)
        pubs = [rng.uniform(0, gap)]
        while pubs[-1] < end:
            pubs.append(pubs[-1] + gap)
        pending: list[float] = []  # published, not yet found
        nxt = 0
        t, pace = 0.0, None
        while t < end:
            while nxt < len(pubs) and pubs[nxt] <= t:
                heapq.heappush(pending, pubs[nxt])
                nxt += 1
            found = len(pending)
            for p in pending:
                if p >= warm:
                    delays.setdefault(kind, []).append(t - p)
            pending.clear()
            if t >= warm:
                polls += 1
            # the first poll reads the feed's history: the dates before the clock's
            listed = () if pace is not None else tuple(
                T0 + timedelta(seconds=pubs[0] - k * gap) for k in range(1, args.history + 1))
            pace = decide(pace, Polled(new=found, listed=listed), T0 + timedelta(seconds=t),
                          limits)
            assert pace.next_poll is not None
            t = (pace.next_poll - T0).total_seconds()
    counted = end - warm
    fixed = args.sites * counted / limits.fastest
    print(f"{args.sites} sites over {args.days:g} days (the first {args.warm_up:g} not "
          f"counted), every {args.every}, every_max {args.every_max}: "
          + ", ".join(f"{v} {k}" for k, v in sorted(per_class.items())))
    print(f"polls: {polls} adaptive against {fixed:.0f} fixed ({fixed / max(polls, 1):.1f}x "
          "fewer)")
    for kind, got in sorted(delays.items()):
        got.sort()
        print(f"{kind}: {len(got)} publications; publication to the poll that finds it: "
              f"median {got[len(got) // 2] / 60:.1f} min, p95 "
              f"{got[int(0.95 * (len(got) - 1))] / 60:.1f} min, max {got[-1] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
