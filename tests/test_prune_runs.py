"""The daily prune of runs (SPEC §13) goes through the runs table in the order they
started, across sources, in large batches: runs older than `retention.runs` go, except
each source's newest 20 (however old) and runs still going."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from newswatch.config.models import Retention
from newswatch.store import retention, schema
from newswatch.store.db import Store
from newswatch.store.retention import Pruner


def test_old_runs_go_across_sources_but_each_keeps_its_newest_20(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(f"sqlite:///{tmp_path / 'nw.db'}")
    now = datetime.now(UTC)
    rows = []
    # four sources' runs interleaved in time, as polls happen, over 60 days: 'busy' every
    # 6 hours, 'seldom' every 2 days, 'stopped' every 6 hours until 40 days ago, 'few'
    # three times; one of busy's old runs never finished
    for hours in range(60 * 24, 0, -6):
        started = now - timedelta(hours=hours)
        rows.append({"source": "busy", "started": started, "status": "ok"})
        if hours % 48 == 0:
            rows.append({"source": "seldom", "started": started, "status": "ok"})
        if hours > 40 * 24:
            rows.append({"source": "stopped", "started": started, "status": "failed"})
        if hours in (50 * 24, 45 * 24, 35 * 24):
            rows.append({"source": "few", "started": started, "status": "ok"})
    rows[3]["status"] = "running"
    assert rows[3]["source"] == "busy"
    with store.tx() as conn:
        conn.execute(insert(schema.runs), rows)

    def started(source: str) -> list[datetime]:
        r = schema.runs
        with store.reader.connect() as conn:
            return sorted(conn.execute(select(r.c.started).where(r.c.source == source))
                          .scalars())

    before = {s: started(s) for s in ("busy", "seldom", "stopped", "few")}
    cutoff = now - timedelta(days=30)
    # small batches: many of them, each holding runs of several sources
    monkeypatch.setattr(retention, "RUN_BATCH", 7)
    pruner = Pruner(store, Retention(), now, pause=0)
    pruner.run()
    young_busy = [t for t in before["busy"] if t >= cutoff]
    running = rows[3]["started"]
    assert started("busy") == sorted([running, *young_busy])
    assert started("seldom") == before["seldom"][-20:]  # 15 young, 5 old
    assert started("stopped") == before["stopped"][-20:]  # none young: its last 20
    assert started("few") == before["few"]
    gone = sum(len(v) for v in before.values()) - sum(
        len(started(s)) for s in before)
    assert pruner.done.runs == gone > 0
    store.close()
