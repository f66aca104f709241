"""What the daemon's send pays for digests that follow their schedule: compose() with
many alerts waiting for a digest, none of them due.

    python bench/digest_compose.py [--articles 60000] [--digest daily@23:59]

Fills a SQLite store (tests/store_fill.py: a third of the articles matched) whose
unsent alerts were queued five minutes ago for a weekly digest, then times compose()
twice with the watches on --digest: the first run moves every waiting alert to that
schedule when it differs (once, after a config change), the second is the steady state
the daemon pays every `send_every`."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import update  # noqa: E402

from newswatch.alerts.outbox import compose  # noqa: E402
from newswatch.config.digest import next_due  # noqa: E402
from newswatch.config.models import Config  # noqa: E402
from newswatch.store import schema  # noqa: E402
from newswatch.store.db import Store, utcnow  # noqa: E402
from tests.store_fill import WATCHES, fill  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=60000)
    parser.add_argument("--digest", default="daily@23:59")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        fill(db, args.articles)
        store = Store(f"sqlite:///{db}")
        queued = utcnow() - timedelta(minutes=5)
        o = schema.outbox
        with store.tx() as conn:
            waiting = conn.execute(update(o).where(o.c.email_id.is_(None)).values(
                digest="weekly", created=queued,
                due=next_due("weekly", ZoneInfo("UTC"), queued))).rowcount
        config = Config.model_validate({"database": f"sqlite:///{db}", "watches": [
            {"name": w, "query": "crypto", "digest": args.digest} for w in WATCHES]})
        for label in ("first", "steady"):
            start = time.perf_counter()
            made = compose(store, config)
            took = time.perf_counter() - start
            print(f"{waiting} alerts waiting, weekly -> {args.digest}: compose ({label}) "
                  f"{took * 1000:.0f} ms, {len(made)} message(s) made")
        store.close()


if __name__ == "__main__":
    main()
