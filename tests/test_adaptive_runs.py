"""Adaptive schedules with real parts: crawls and a daemon against the fixture site's
paced feed (answered with Cache-Control, Retry-After, 429, 503 as a test sets it), the
schedule read back from the store and from `status --source`."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from newswatch.config.pacing import SHARE, WINDOW_HOURS, roughly
from tests.conftest import db_rows, run_cli, write_config
from tests.procs import Starter, wait_for
from tests.site.server import FixtureServer
from tests.test_web import Web, get

FEED = "/paced/feed.xml"


@pytest.fixture
def paced(site: FixtureServer) -> Iterator[FixtureServer]:
    site.state.paced = (200, {})
    with site.state.lock:  # this test's fetches only (the site serves the whole session)
        site.state.times.pop("/paced/feed.xml", None)
    yield site
    site.state.paced = (200, {})


def config(tmp_path: Path, site: FixtureServer, every: str = "2m",
           every_max: str = "6h") -> Path:
    return write_config(tmp_path, dedent(f"""
        timezone: Asia/Karachi
        sources:
          - name: paced
            feeds: ["{site.base}{FEED}"]
            every: {every}
            every_max: {every_max}
        watches:
          - name: anything
            query: 'the'
        alerts:
          to: [desk@example.org]
          maildir: mail
        daemon:
          send_every: 1s
        """))


def stored(cfg: Path) -> dict[str, object]:
    rows = db_rows(cfg, "select * from schedules where source = 'paced'")
    assert len(rows) == 1, rows
    return rows[0]


def when(value: object) -> datetime:
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def crawl(cfg: Path, site: FixtureServer) -> tuple[int, datetime, datetime]:
    """A one-off crawl: how many times it fetched the feed, and when it ran."""
    hits = site.state.count(FEED)
    before = datetime.now(UTC)
    run_cli("crawl", "-q", config=cfg)
    return site.state.count(FEED) - hits, before, datetime.now(UTC)


def status(cfg: Path) -> str:
    proc = run_cli("status", "--source", "paced", config=cfg)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_crawl_stores_what_the_feed_asked_and_backs_off_on_429_and_503(
        paced: FixtureServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, paced)
    paced.state.paced = (200, {"Cache-Control": "public, max-age=3600"})
    _, before, after = crawl(cfg, paced)
    row = stored(cfg)
    assert row["asked"] == "the feed asked max-age=3600"
    assert before + timedelta(hours=1) <= when(row["next_poll"]) <= after + timedelta(hours=1)
    said = status(cfg)
    assert "schedule: every 2m to 6h, as it publishes" in said
    assert "why: not before " in said and " PKT: the feed asked max-age=3600" in said

    # its first poll set the interval from the feed's dates (a day or two apart)
    seeded = float(str(row["interval"]))
    assert 120 < seeded < 3 * 3600

    paced.state.paced = (429, {"Retry-After": "7200"})
    hits, before, after = crawl(cfg, paced)
    assert hits == 1  # not retried at once: that would be a poll sooner than asked
    row = stored(cfg)
    assert row["strikes"] == 1 and row["reason"] == "backing off after HTTP 429"
    assert row["interval"] == pytest.approx(2 * seeded)
    assert before + timedelta(hours=2) <= when(row["next_poll"]) <= after + timedelta(hours=2)
    assert "the feed asked Retry-After: 7200" in status(cfg)

    paced.state.paced = (503, {})
    hits, _, _ = crawl(cfg, paced)
    assert hits == 1
    said = status(cfg)
    backed = roughly(min(4 * seeded, 6 * 3600))
    assert f"interval: {backed}" in said
    assert f"why: every {backed}: backing off after HTTP 503 (2 polls in a row)" in said
    # the web view's page of the source says the same
    web = Web(cfg).up()
    try:
        page = html.unescape(get(web, "/sources/paced"))
    finally:
        assert web.stop() == 0
    assert f"<dt>interval</dt><dd>{backed}</dd>" in page
    assert (f"<dt>why</dt><dd>every {backed}: backing off after HTTP 503 (2 polls in a "
            "row)</dd>") in page
    assert re.search(r"<dt>next poll</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d PKT</dd>", page)


def test_a_new_source_starts_at_the_rate_its_feeds_dates_give(paced: FixtureServer,
                                                                 tmp_path: Path) -> None:
    cfg = config(tmp_path, paced)
    dates = sorted((a.published for a in paced.state.articles), reverse=True)
    _, before, after = crawl(cfg, paced)
    row = stored(cfg)
    # the newer half of the feed's entries over the time since the oldest of them (its
    # 40-day-old entry does not count), weighed as at most a decay window of polls
    count = max(2, (len(dates) + 1) // 2)
    oldest = dates[count - 1]
    span = [min(WINDOW_HOURS, (t - oldest).total_seconds() / 3600) for t in (before, after)]
    hours = float(str(row["hours"]))
    assert span[0] <= hours <= span[1]
    rate = float(str(row["articles"])) / hours
    assert rate == pytest.approx((count - 0.5) / ((before - oldest).total_seconds() / 3600),
                                 rel=0.01)
    assert float(str(row["interval"])) == pytest.approx(min(6 * 3600, max(
        120, SHARE * 3600 / rate)))
    assert row["reason"] == (f"first poll: its feed's {len(dates)} dated entries say it "
                             f"publishes about every {roughly(3600 / rate)}")
    assert f"why: every {roughly(float(str(row['interval'])))}: first poll: its feed's" \
        in status(cfg)


def test_status_of_an_unknown_source_says_which_there_are(paced: FixtureServer,
                                                          tmp_path: Path) -> None:
    proc = run_cli("status", "--source", "nope", config=config(tmp_path, paced))
    assert proc.returncode == 2
    assert "no source named 'nope' in the config (sources: paced)" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_the_daemon_never_polls_sooner_than_asked_and_a_restart_keeps_the_schedule(
        paced: FixtureServer, tmp_path: Path, start: Starter) -> None:
    # every_max 2s: the feed's dates (a day or so apart) would set a first interval of
    # hours; here only the site's ask may hold the source back
    cfg = config(tmp_path, paced, every="1s", every_max="2s")
    paced.state.paced = (200, {"Cache-Control": "max-age=4"})
    daemon = start(cfg)

    def finished() -> list[dict[str, object]]:
        return db_rows(cfg, "select * from runs where source = 'paced' and status != "
                            "'running' order by id")

    wait_for(lambda: len(finished()) >= 3, 60, "three polls")
    # every: 1s, but the feed asked for 4 s between fetches (as the site saw them)
    fetched = paced.state.times["/paced/feed.xml"]
    assert len(fetched) >= 3 and all(b - a >= 4 for a, b in itertools.pairwise(fetched))

    paced.state.paced = (429, {"Retry-After": "30"})
    wait_for(lambda: "429" in str(finished()[-1]["message"]), 30, "a poll answered 429")
    # its schedule is written just after its run
    wait_for(lambda: stored(cfg)["asked"] == "the feed asked Retry-After: 30", 30,
             "the schedule of the poll answered 429")
    row = stored(cfg)
    due = when(row["next_poll"])
    assert due >= when(finished()[-1]["started"]) + timedelta(seconds=30)
    paced.state.paced = (200, {})
    assert daemon.stop() == 0
    count = len(finished())

    again = start(cfg, log="again.log")
    # the schedule is made once the daemon runs (and leads): its line comes after
    wait_for(lambda: "scheduled 1 source(s)" in again.text(), 30, "the restarted daemon")
    if datetime.now(UTC) >= due:
        pytest.fail("the restart took longer than the feed's Retry-After: nothing shown")
    assert "scheduled 1 source(s) (1 waiting for the next poll their stored schedule " \
           "gives)" in again.text()
    wait_for(lambda: len(finished()) > count, 60, "the poll after the restart")
    assert when(finished()[count]["started"]) >= due
    assert again.stop() == 0
    assert stored(cfg)["asked"] is None  # the feed asks nothing now


@pytest.mark.slow
def test_with_a_queue_the_worker_stores_the_schedule_and_the_leader_keeps_to_it(
        paced: FixtureServer, tmp_path: Path, start: Starter, postgres: Any) -> None:
    from tests.test_cluster import rows

    url = postgres.new_database()
    cfg = config(tmp_path, paced, every="1s", every_max="2s")  # as above
    cfg.write_text(cfg.read_text().replace("database: nw.db\n", f"database: {url}\n"
                                           f"queue: {url}\n")
                   .replace("  send_every: 1s\n", "  send_every: 1s\n  heartbeat: 1s\n"),
                   encoding="utf-8")
    paced.state.paced = (200, {"Cache-Control": "max-age=4"})
    assert run_cli("migrate", config=cfg).returncode == 0
    worker = start(cfg, "worker", "w1.log")
    scheduler = start(cfg)

    def finished() -> list[dict[str, Any]]:
        return rows(url, "select * from runs where source = 'paced' and status != 'running' "
                         "order by id")

    wait_for(lambda: len(finished()) >= 3, 90, "three polls through the queue")
    assert scheduler.stop() == 0
    assert worker.stop() == 0
    fetched = paced.state.times["/paced/feed.xml"]  # as the site saw them
    assert len(fetched) >= 3 and all(b - a >= 4 for a, b in itertools.pairwise(fetched))
    [row] = rows(url, "select * from schedules where source = 'paced'")
    assert row["asked"] == "the feed asked max-age=4"
    said = status(cfg)
    assert "why: not before " in said and "the feed asked max-age=4" in said
