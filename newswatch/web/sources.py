"""The web view's sources pages, made for thousands of sources: `/sources` opens with how
many are healthy, failing and never polled, lists the failing ones first with why, can
be filtered by health and by name, 50 a page; `/sources/NAME` is one source with its
runs, newest first, 50 a page. A page costs a fixed number of queries (store.sources),
whatever the number of sources."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request

from newswatch.alerts.render import one_line
from newswatch.config.models import Config
from newswatch.service.health import problem
from newswatch.store.db import Store
from newswatch.store.schedules import describe as describe_schedule
from newswatch.store.sources import health_states, latest_runs, polled, run_count, runs_of

log = logging.getLogger(__name__)

PAGE = 50
FAILING, NEVER, HEALTHY = "failing", "never polled", "healthy"
# the order of the list: what needs a person first
ORDER = (FAILING, NEVER, HEALTHY)
# ?health= values, as a link writes them
FILTERS = {"failing": FAILING, "never": NEVER, "healthy": HEALTHY}


@dataclass
class SourceRow:
    name: str
    health: str  # FAILING | NEVER | HEALTHY
    why: str  # why it fails (or what went wrong in its last run); "" when nothing did
    since: datetime | None  # when it turned failing
    last: dict[str, Any] | None = None  # its newest run (filled for the rows shown)


def page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        return 1


def _classify(config: Config, store: Store) -> list[SourceRow]:
    """Every configured source with its health, failing first, then never polled, then
    healthy; by name within each."""
    ran = polled(store)
    states = health_states(store)
    rows = []
    for source in config.sources:
        state = states.get(source.name)
        if state is not None and state.state == "failing":
            rows.append(SourceRow(source.name, FAILING, state.reason or "", state.since))
        elif source.name not in ran:
            rows.append(SourceRow(source.name, NEVER, "", None))
        else:
            rows.append(SourceRow(source.name, HEALTHY, "", None))
    rows.sort(key=lambda r: (ORDER.index(r.health), r.name))
    return rows


def overview(config: Config, store: Store, request: Request) -> dict[str, Any]:
    """What sources.html shows: the summary, the filters, and one page of sources."""
    q = request.query_params
    wanted = FILTERS.get(q.get("health") or "")
    name = (q.get("name") or "").strip()
    rows = _classify(config, store)
    counts = {health: 0 for health in ORDER}
    for row in rows:
        counts[row.health] += 1
    shown = [r for r in rows if (wanted is None or r.health == wanted)
             and name.lower() in r.name.lower()]
    pages = max(1, -(-len(shown) // PAGE))
    number = min(page_number(request), pages)
    chosen = shown[(number - 1) * PAGE:number * PAGE]
    latest = latest_runs(store, [r.name for r in chosen if r.health != NEVER])
    for row in chosen:
        row.last = latest.get(row.name)
        if not row.why and row.last is not None and row.last["status"] != "running":
            # a healthy source's last run may still have failed (not yet FAILING_AFTER
            # in a row): say what went wrong
            row.why = problem(row.last) or ""
        row.why = one_line(row.why)  # cleaned for the rows shown only: it costs
    keep = {k: v for k, v in {"health": q.get("health") if wanted else None,
                              "name": name}.items() if v}

    def link(n: int) -> str:
        return "/sources?" + urlencode({**keep, "page": n})

    return {"rows": chosen, "counts": counts, "total": len(rows), "matching": len(shown),
            "number": number, "pages": pages, "link": link, "health": q.get("health") or "",
            "search": name, "filters": FILTERS}


def detail(config: Config, store: Store, request: Request) -> dict[str, Any] | None:
    """What source.html shows: one source, its health and a page of its runs; None if
    the config has no such source."""
    name = request.path_params["name"]
    try:
        source = config.source(name)
    except KeyError:
        return None
    state = health_states(store).get(name)
    total = run_count(store, name)
    pages = max(1, -(-total // PAGE))
    number = min(page_number(request), pages)
    runs = runs_of(store, name, PAGE, (number - 1) * PAGE)
    if state is not None and state.state == "failing":
        health, why, since = FAILING, one_line(state.reason), state.since
    elif total == 0:
        health, why, since = NEVER, "", None
    else:
        health, why, since = HEALTHY, "", None

    def link(n: int) -> str:
        return f"/sources/{name}?" + urlencode({"page": n})

    return {"source": source, "health": health, "why": why, "since": since, "runs": runs,
            "total": total, "number": number, "pages": pages, "link": link,
            "schedule": source.schedule,
            "pace": describe_schedule(config, store, name, ZoneInfo(config.timezone))[1:]}
