"""Reading back how the sources do, for the web view at thousands of sources: which
sources ever ran, their health states and a page of sources' latest runs, each in one
query whose cost follows the number of sources, not of runs; one source's runs a page at
a time. Reads only."""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

from sqlalchemy import CTE, CompoundSelect, bindparam, func, select, union_all

from newswatch.store import schema
from newswatch.store.db import Store


def _names() -> CTE:
    """The names of the sources with runs, as a loose index scan on ix_runs_source_started
    (source, started): each step from one name to the next is one seek, so the cost
    follows the number of sources, not of runs (a month of 15-minute polls of 2,000
    sources is 6 million)."""
    r = schema.runs
    step = r.alias("step")
    names = select(func.min(r.c.source).label("source")).cte("names", recursive=True)
    return names.union_all(
        select(select(step.c.source).where(step.c.source > names.c.source)
               .order_by(step.c.source).limit(1).scalar_subquery())
        .where(names.c.source.is_not(None)))


def polled(store: Store) -> set[str]:
    """The sources that have run at least once."""
    names = _names()
    with store.reader.connect() as conn:
        return {n for n in conn.execute(select(names.c.source)).scalars() if n is not None}


@functools.cache
def _latest_ids(n: int) -> CompoundSelect:
    """The id of the newest run of each of n sources, named by the parameters s0..s{n-1}:
    one index seek each. Built once per n (a page holds at most 50): building the
    statement costs more than running it."""
    newest = schema.runs.alias("newest")
    return union_all(*(
        select(select(newest.c.id).where(newest.c.source == bindparam(f"s{i}"))
               .order_by(newest.c.started.desc()).limit(1).scalar_subquery())
        for i in range(n)))


def latest_runs(store: Store, sources: Collection[str]) -> dict[str, dict[str, Any]]:
    """The newest run of each of these sources (a page of them), by source: two queries
    per 400 sources (SQLite allows 500 parts to a UNION)."""
    r = schema.runs
    names = sorted(set(sources))
    found: dict[str, dict[str, Any]] = {}
    with store.reader.connect() as conn:
        for k in range(0, len(names), 400):
            chunk = names[k:k + 400]
            ids = [i for i in conn.execute(_latest_ids(len(chunk)),
                                           {f"s{i}": name for i, name in enumerate(chunk)})
                   .scalars() if i is not None]
            for row in conn.execute(select(r).where(r.c.id.in_(ids))).mappings():
                found[row["source"]] = dict(row)
    return found


def health_states(store: Store) -> dict[str, Any]:
    """Each source's announced health (state, reason, since), by source: sources that
    never changed state have no row (they are healthy, or never polled)."""
    h = schema.source_health
    with store.reader.connect() as conn:
        return {row.source: row for row in conn.execute(
            select(h.c.source, h.c.state, h.c.reason, h.c.since))}


def run_count(store: Store, source: str) -> int:
    r = schema.runs
    with store.reader.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(r)
                                .where(r.c.source == source)).scalar_one())


def runs_of(store: Store, source: str, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """A source's runs, newest first (by the index on source and start time)."""
    r = schema.runs
    query = (select(r).where(r.c.source == source)
             .order_by(r.c.started.desc(), r.c.id.desc()).limit(limit).offset(offset))
    with store.reader.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
