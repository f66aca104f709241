"""`newswatch run` as a real daemon subprocess against the fixture site, with schedules
of a second or two."""


from __future__ import annotations

import math
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from textwrap import dedent

import pytest

from tests.conftest import db_rows, run_cli, write_config
from tests.procs import Starter, wait_for
from tests.site.pages import Article, breaking
from tests.site.server import FixtureServer

pytestmark = pytest.mark.slow  # end to end, a minute or more: `make test-fast` skips them


def daemon_config(tmp_path: Path, site: FixtureServer, extra_sources: str = "",
                  daemon: str = "") -> Path:
    return write_config(tmp_path, dedent(f"""
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
            every: 2s
            every_max: 2s
        """) + extra_sources + dedent(f"""
        watches:
          - name: everything-new
            query: 'the OR a'
        alerts:
          to: [desk@example.org]
          maildir: mail
        daemon:
          send_every: 1s
        {daemon}"""))


def slow_source(site: FixtureServer, every: str) -> str:
    """A source whose listing page takes 30 s to answer."""
    return (f'  - name: slow\n    pages: ["{site.base}/hostile/slow/"]\n'
            f"    every: {every}\n    timeout: 60s\n")


def mails(cfg: Path) -> int:
    box = cfg.parent / "mail" / "new"
    return len(list(box.iterdir())) if box.exists() else 0


def runs(cfg: Path, source: str = "daily") -> list[dict[str, object]]:
    return db_rows(cfg, f"select * from runs where source = '{source}' order by id")


def starts(log_text: str, source: str = "daily") -> list[float]:
    """When the daemon's log says each poll of the source was started (epoch seconds)."""
    return [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for line in log_text.splitlines() if f"[{source}] crawl started" in line]


def late_article() -> Article:
    """An article the site publishes while a daemon runs."""
    return breaking(
        "late-news", "A late story about the dams",
        "The water authority said the dams were full and that releases would begin on "
        "Monday morning for the sowing season in the south.",
        "Farmers welcomed the news but asked for a published schedule.")


def test_a_new_article_is_alerted_within_the_interval(fresh_site: FixtureServer,
                                                      tmp_path: Path,
                                                      start: Starter) -> None:
    cfg = daemon_config(tmp_path, fresh_site)
    daemon = start(cfg)
    wait_for(lambda: mails(cfg) == 1, 60, "the first email")
    published = time.time()
    fresh_site.state.articles.append(late_article())
    wait_for(lambda: mails(cfg) == 2, 60, "the new article's email")
    assert daemon.stop() == 0
    text = daemon.text()
    assert "run ok: pages" in text  # one line per run with its counts
    # within the interval, however loaded the machine: the poll that stored it was the
    # one under way when it was published or the first one started after (the log's
    # k-th run line ends its k-th poll: one poll of a source at a time)
    began = starts(text)
    ended = [line for line in text.splitlines() if "[daily] run " in line]
    storing = [k for k, line in enumerate(ended) if k > 0 and ", new 0," not in line]
    first_after = next((k for k, t in enumerate(began) if t > published), len(began))
    assert storing and storing[0] <= first_after, (published, began, ended)


def test_a_second_daemon_on_the_same_database_is_refused(fresh_site: FixtureServer,
                                                         tmp_path: Path,
                                                         start: Starter) -> None:
    cfg = daemon_config(tmp_path, fresh_site)
    first = start(cfg)
    wait_for(lambda: "daemon running" in first.text(), 30, "the first daemon")
    second = run_cli("run", config=cfg, timeout=60)
    assert second.returncode == 1
    assert f"another daemon (pid {first.proc.pid}) is already running" in second.stderr
    assert first.proc.poll() is None
    assert first.stop() == 0


def test_sigterm_mid_crawl_exits_cleanly_without_orphans(fresh_site: FixtureServer,
                                                         tmp_path: Path,
                                                         start: Starter) -> None:
    slow = slow_source(fresh_site, "1h")
    cfg = daemon_config(tmp_path, fresh_site, extra_sources=slow)
    daemon = start(cfg)
    wait_for(lambda: "[slow] crawl started (worker pid" in daemon.text(), 30, "the slow crawl")
    child = int(daemon.text().split("[slow] crawl started (worker pid ")[1].split(")")[0])
    stopping = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - stopping < 30
    with pytest.raises(ProcessLookupError):
        os.killpg(child, 0)  # its whole process group is gone
    assert "stopped" in daemon.text()
    # a stop on purpose is no error: the slow poll is cancelled, and logged as such
    assert " ERROR " not in daemon.text(), daemon.text()
    assert "[slow] run cancelled: stopped with the daemon" in daemon.text()
    assert [r["status"] for r in runs(cfg, "slow")] == ["cancelled"]


def test_a_hanging_crawl_is_killed_at_its_limit_and_others_run_on(
        fresh_site: FixtureServer, tmp_path: Path, start: Starter) -> None:
    slow = slow_source(fresh_site, "4s")
    cfg = daemon_config(tmp_path, fresh_site, extra_sources=slow,
                        daemon="  time_limit: 3s\n")
    daemon = start(cfg)
    wait_for(lambda: len([r for r in runs(cfg, "slow")
                          if "time limit" in str(r["message"])]) >= 2, 40,
             "two killed runs of the slow source")
    killed = [r for r in runs(cfg, "slow") if "time limit" in str(r["message"])]
    daily = runs(cfg, "daily")
    # the other source kept its own clock meanwhile: runs before and after the first kill
    assert len(daily) >= 2
    assert any(str(r["started"]) > str(killed[0]["finished"]) for r in daily)
    assert daemon.stop() == 0


def test_suspended_across_firings_runs_once_on_waking(fresh_site: FixtureServer,
                                                      tmp_path: Path,
                                                      start: Starter) -> None:
    cfg = daemon_config(tmp_path, fresh_site)
    # a 3 s schedule leaves idle moments between crawls even on a loaded machine
    cfg.write_text(cfg.read_text().replace("every: 2s", "every: 3s")
                   .replace("every_max: 2s", "every_max: 3s"))
    daemon = start(cfg)
    wait_for(lambda: len(runs(cfg)) >= 1 and runs(cfg)[-1]["status"] != "running", 60,
             "a first run")

    def idle() -> bool:
        # the daemon's own log, not the runs table: a crawl's job ends a moment after
        # its run is recorded, and a job still in flight makes the wake-up run wait
        text = daemon.text()
        return text.count("[daily] crawl started") == text.count("[daily] run ")

    for _ in range(20):  # stop it between two crawls, not during one
        wait_for(idle, 30, "an idle moment")
        os.killpg(daemon.proc.pid, signal.SIGSTOP)
        if idle():
            break
        os.killpg(daemon.proc.pid, signal.SIGCONT)
    before = daemon.text().count("[daily] crawl started")
    # the schedule's grid runs on from the last firing: wake half a second after a
    # firing missed ten seconds on, so the next regular one is still 2.5 s away
    last = starts(daemon.text())[-1]
    wake = last + 3 * math.ceil((time.time() + 10 - last) / 3) + 0.5
    time.sleep(wake - time.time())  # three and more firings of a 3 s schedule missed
    os.killpg(daemon.proc.pid, signal.SIGCONT)
    # the missed firings make one run, and the one after it waits for the grid's next
    # firing (2.5 s after the wake-up): read from the daemon's own log, however late a
    # loaded machine lets each run start
    wait_for(lambda: daemon.text().count("[daily] crawl started") - before >= 2, 60,
             "the coalesced run and the next regular one")
    woke = [t for t in starts(daemon.text()) if t > last]
    assert len(woke) >= 2 and woke[0] >= wake - 0.1, (wake, woke)
    assert woke[1] >= wake + 2.4, (wake, woke)  # not a second run for the missed firings
    assert daemon.stop() == 0


def test_sighup_with_a_broken_config_keeps_the_old_one(fresh_site: FixtureServer,
                                                       tmp_path: Path,
                                                       start: Starter) -> None:
    cfg = daemon_config(tmp_path, fresh_site)
    daemon = start(cfg)
    wait_for(lambda: len(runs(cfg)) >= 1, 60, "a first run")
    good = cfg.read_text()
    cfg.write_text(good.replace("every: 2s", "every: soon"))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "keeping the old one" in daemon.text(), 10, "the reload error")
    assert "sources[0].every: bad duration 'soon'" in daemon.text()
    count = len(runs(cfg))
    wait_for(lambda: len(runs(cfg)) >= count + 2, 20, "runs on the old schedule")
    assert daemon.proc.poll() is None
    cfg.write_text(good)
    assert daemon.stop() == 0


def test_a_source_that_loses_its_text_is_reported_once_and_on_recovery(
        fresh_site: FixtureServer, tmp_path: Path, start: Starter) -> None:
    cfg = daemon_config(tmp_path, fresh_site)
    cfg.write_text(cfg.read_text().replace("  maildir: mail", "  ops: [ops@example.org]\n"
                                                             "  maildir: mail"))
    daemon = start(cfg)
    wait_for(lambda: mails(cfg) == 1, 60, "the first email")

    def ops() -> list[str]:
        return [r["subject"] for r in db_rows(cfg, "select subject from emails where "
                                                   "recipient = 'ops@example.org' order by id")]

    fresh_site.state.no_text = True  # from now on every article page is an empty shell
    for n in (1, 2):
        fresh_site.state.articles.append(breaking(
            f"shell-{n}", f"Story number {n} behind the broken layout",
            "This text is never served while the layout is broken."))
    wait_for(lambda: len(ops()) == 1, 20, "the failing email")
    assert "source daily is failing" in ops()[0]
    # three more runs while it stays broken (each one's health checked when it ends):
    # no repeated email
    done = len([r for r in runs(cfg) if r["status"] != "running"])
    wait_for(lambda: len([r for r in runs(cfg) if r["status"] != "running"]) >= done + 3,
             60, "three more runs of the broken source")
    assert len(ops()) == 1
    fresh_site.state.no_text = False
    fresh_site.state.articles.append(breaking(
        "fixed", "The site is readable again",
        "Editors restored the usual layout after a faulty template went out in the morning "
        "and readers saw empty pages for a few hours."))
    wait_for(lambda: len(ops()) == 2, 20, "the recovery email")
    assert "source daily has recovered" in ops()[1]
    wait_for(lambda: db_rows(cfg, "select count(*) n from emails where status = 'sent' and "
                                  "recipient = 'ops@example.org'")[0]["n"] == 2, 10,
             "both ops emails sent")
    assert daemon.stop() == 0
