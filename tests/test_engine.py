"""One crawl engine for many sources, against a local "internet" of news sites on
distinct loopback addresses (tests/site/many.py): a one-off crawl of 200 sources, and
the daemon with its long-lived worker: every source polled each interval with a
constant number of processes, a worker killed mid-poll, a hanging source at its time
limit, and a memory limit that recycles the worker. No alert is lost or repeated."""

from __future__ import annotations

import email
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from tests.conftest import db_rows, run_cli
from tests.procs import DaemonProc, Starter, process_tree, wait_for
from tests.site.many import ManySites
from tests.site.server import FixtureServer

pytestmark = pytest.mark.slow


@pytest.fixture
def sites() -> Iterator[ManySites]:
    server = ManySites(50).start()
    yield server
    server.stop()


def config(tmp_path: Path, sources: str, daemon: str = "", timeout: str = "30s") -> Path:
    """The sites' config: a fetch may take long on a loaded machine (a timeout would make
    a retry, or a failed poll, that no test here is about); the hanging sources have
    their own timeouts and limits."""
    path = tmp_path / "newswatch.yaml"
    path.write_text(dedent(f"""\
        database: nw.db
        crawl:
          allow_private: [127.0.0.0/8]
          download_delay: 0s
          max_age: 30d
          timeout: {timeout}
        watches:
          - name: council
            query: '"crypto council"'
        alerts:
          to: [desk@example.org]
          maildir: mail
        daemon:
          send_every: 1s
        """) + "".join(f"  {line}\n" for line in daemon.splitlines() if line)
        + "sources:\n" + sources, encoding="utf-8")
    return path


def mailed_urls(cfg: Path) -> Counter[str]:
    """How many times each article URL was emailed (the plain-text parts)."""
    box = cfg.parent / "mail" / "new"
    found: Counter[str] = Counter()
    for path in box.iterdir() if box.exists() else []:
        msg = email.message_from_bytes(path.read_bytes())
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                found.update(re.findall(r"^(http://127\.1\.\S+?)\r?$", payload.decode(), re.M))
    return found


def matching(sites: ManySites, outlets: range, numbers: range) -> set[str]:
    """The article URLs the watch matches (every third story's headline)."""
    return {sites.article_url(i, n) for i in outlets for n in numbers if n % 3 == 0}


def worker_pids(daemon: DaemonProc) -> list[int]:
    return [int(p) for p in re.findall(r"crawl worker started \(pid (\d+)\)", daemon.text())]


def descendants(pid: int) -> set[int]:
    return set(process_tree(pid)) - {pid}


def test_a_one_off_crawl_of_200_sources_is_one_crawler(tmp_path: Path) -> None:
    sites = ManySites(200).start()
    try:
        # (a loaded machine answers some of 200 feeds late: a 3 s timeout made a retry,
        # 201 feed requests, and once per feed is what this test counts)
        cfg = config(tmp_path, sites.sources_yaml("1h"))
        proc = run_cli("crawl", "-v", config=cfg, timeout=300)
    finally:
        sites.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("crawl engine started") == 1
    runs = db_rows(cfg, "select status, pages from runs")
    assert len(runs) == 200 and {r["status"] for r in runs} == {"ok"}
    assert sum(r["pages"] for r in runs) == 600
    assert len(sites.requests("/feed.xml")) == 200
    # robots.txt once per host, not once per request
    assert len(sites.requests("/robots.txt")) == 200
    assert mailed_urls(cfg) == Counter(matching(sites, range(200), range(3)))


@pytest.mark.serial
def test_fifty_sources_each_polled_every_interval_by_a_constant_set_of_processes(
        sites: ManySites, tmp_path: Path, start: Starter) -> None:
    cfg = config(tmp_path, sites.sources_yaml("4s", fixed=True), "concurrent_sources: 20")
    daemon = start(cfg)
    first = matching(sites, range(50), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) == first, 90, "the first articles' alerts")
    began = time.time()
    counts = []
    for _ in range(10):
        counts.append(len(descendants(daemon.proc.pid)))
        time.sleep(1)
    later = {sites.article_url(i, sites.publish(i)) for i in range(0, 50, 5)}
    wait_for(lambda: set(mailed_urls(cfg)) == first | later, 30, "the new articles' alerts")
    end = time.time()
    assert daemon.stop() == 0
    # one daemon, one worker with its extraction processes, the whole time
    assert len(set(counts)) == 1 and counts[0] >= 2, counts
    # every source's feed was asked for in every interval (4 s; a second of slack)
    for i in range(50):
        times = [h.began for h in sites.requests("/feed.xml")
                 if h.host == sites.outlets[i].host and began <= h.began <= end]
        gaps = [b - a for a, b in zip([began, *times], [*times, end], strict=True)]
        assert max(gaps) <= 5.0, (i, gaps)
    assert max(mailed_urls(cfg).values()) == 1  # no alert twice


def test_a_worker_killed_mid_poll_is_replaced_and_no_alert_is_lost_or_repeated(
        sites: ManySites, tmp_path: Path, start: Starter) -> None:
    sites.outlets[9].hang = True  # its article pages never answer: always mid-poll
    sources = sites.sources_yaml("3s", 9, fixed=True) + (
        f'  - name: hangs\n    feeds: ["{sites.base(9)}/feed.xml"]\n    every: 3s\n'
        f"    every_max: 3s\n    timeout: 60s\n")
    cfg = config(tmp_path, sources, "time_limit: 2m")
    daemon = start(cfg)
    first = matching(sites, range(9), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) == first, 90, "the first articles' alerts")
    wait_for(lambda: any(h.host == sites.outlets[9].host and h.path.startswith("/news/")
                         for h in sites.arrivals), 30, "the hanging poll")
    victim = worker_pids(daemon)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(worker_pids(daemon)) >= 2, 30, "a new worker")
    assert worker_pids(daemon)[1] != victim
    killed = [r for r in db_rows(cfg, "select * from runs where source = 'hangs'")
              if r["status"] == "failed"]
    assert killed and "killed by signal SIGKILL" in killed[0]["message"]
    assert f"pid {victim}" in killed[0]["message"]
    assert "died: killed by signal SIGKILL" in daemon.text()
    later = {sites.article_url(i, sites.publish(i)) for i in range(9)}
    wait_for(lambda: set(mailed_urls(cfg)) == first | later, 60, "alerts after the restart")
    # polled again after the restart: the hanging source too
    wait_for(lambda: len(db_rows(cfg, "select id from runs where source = 'hangs'")) >= 2, 30,
             "the hanging source polled again")
    assert daemon.stop() == 0
    assert max(mailed_urls(cfg).values()) == 1
    after = db_rows(cfg, f"select status from runs where source != 'hangs' and started > "
                         f"'{killed[0]['finished']}'")
    assert after and {r["status"] for r in after} == {"ok"}


def test_a_hanging_source_meets_its_time_limit_while_the_others_finish(
        sites: ManySites, tmp_path: Path, start: Starter) -> None:
    sites.outlets[5].hang = True
    sources = sites.sources_yaml("3s", 5, fixed=True) + (
        f'  - name: hangs\n    feeds: ["{sites.base(5)}/feed.xml"]\n    every: 3s\n'
        f"    every_max: 3s\n    timeout: 60s\n")
    cfg = config(tmp_path, sources, "time_limit: 4s")
    daemon = start(cfg)

    def limited() -> list[dict[str, object]]:
        return [r for r in db_rows(cfg, "select * from runs where source = 'hangs'")
                if "time limit (4s)" in str(r["message"])]

    wait_for(lambda: len(limited()) >= 2, 60, "two runs of the hanging source at the limit")
    assert daemon.stop() == 0
    assert {r["status"] for r in limited()} == {"failed"}
    others = db_rows(cfg, "select * from runs where source != 'hangs' and status != "
                          "'cancelled'")
    assert others and {r["status"] for r in others} == {"ok"}
    assert max(float(str(r["duration"])) for r in others) < 4
    # the others kept their clock while the hanging source waited for its limit
    assert min(len([r for r in others if r["source"] == f"site{i}"]) for i in range(5)) >= 3
    assert set(mailed_urls(cfg)) == matching(sites, range(5), range(3))


def test_a_tiny_memory_limit_recycles_the_worker_without_losing_a_poll(
        sites: ManySites, tmp_path: Path, start: Starter) -> None:
    cfg = config(tmp_path, sites.sources_yaml("2s", 5, fixed=True), "memory_limit: 20MB")
    daemon = start(cfg)
    wait_for(lambda: daemon.text().count("it finishes its polls while a new one starts") >= 2,
             90, "two recycled workers")
    first = matching(sites, range(5), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) == first, 90, "the first articles' alerts")
    later = {sites.article_url(i, sites.publish(i)) for i in range(5)}
    wait_for(lambda: set(mailed_urls(cfg)) == first | later, 60, "the new articles' alerts")
    assert daemon.stop() == 0
    assert max(mailed_urls(cfg).values()) == 1
    runs = db_rows(cfg, "select status, message from runs")
    assert {r["status"] for r in runs} <= {"ok", "cancelled"}, runs
    assert len(set(worker_pids(daemon))) >= 3


def test_sighup_gives_the_running_worker_the_new_config(
        sites: ManySites, tmp_path: Path, start: Starter) -> None:
    cfg = config(tmp_path, sites.sources_yaml("2s", 3, fixed=True))
    daemon = start(cfg)
    first = matching(sites, range(3), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) == first, 60, "the first articles' alerts")
    text = cfg.read_text()
    cfg.write_text(text.replace("watches:\n", "watches:\n  - name: fourth\n"
                                "    query: '\"story 4\"'\n")
                   + sites.sources_yaml("2s", 4, fixed=True)[
                       len(sites.sources_yaml("2s", 3, fixed=True)):])
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in daemon.text(), 20, "the reload")
    new_source = matching(sites, range(3, 4), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) >= new_source, 30, "the new source's alerts")
    sites.publish(0)  # story 3: the old watch
    fourth = sites.article_url(0, sites.publish(0))  # story 4: only the new watch
    wait_for(lambda: fourth in mailed_urls(cfg), 30, "the new watch's alert")
    assert daemon.stop() == 0
    assert len(set(worker_pids(daemon))) == 1  # the same worker, told of the new config
    runs = db_rows(cfg, "select status from runs")
    assert {r["status"] for r in runs} <= {"ok", "cancelled"}
    assert max(mailed_urls(cfg).values()) == 1


@pytest.mark.serial
def test_a_hostile_source_costs_only_its_own_poll(
        sites: ManySites, fresh_site: FixtureServer, tmp_path: Path, start: Starter) -> None:
    """Hanging, huge, gzip-bombed, looping and forbidden pages in one source; ten plain
    sources beside it keep their clock."""
    hostile = (f'  - name: hostile\n    feeds: ["{fresh_site.base}/hostile/feed.xml"]\n'
               f"    max_age: none\n    every: 3s\n")
    # the hostile pages that hang are cut off by the crawl's timeout
    cfg = config(tmp_path, sites.sources_yaml("3s", 10, fixed=True) + hostile, timeout="3s")
    daemon = start(cfg)
    wait_for(lambda: len([r for r in db_rows(cfg, "select status from runs where source = "
                                                  "'hostile'") if r["status"] != "running"])
             >= 2, 90, "two polls of the hostile source")
    began = time.time()
    time.sleep(9)
    end = time.time()
    assert daemon.stop() == 0
    hostile_runs = db_rows(cfg, "select * from runs where source = 'hostile' and status = 'ok'")
    assert hostile_runs and max(r["errors"] for r in hostile_runs) >= 5
    for i in range(10):
        times = [h.began for h in sites.requests("/feed.xml")
                 if h.host == sites.outlets[i].host and began <= h.began <= end]
        gaps = [b - a for a, b in zip([began, *times], [*times, end], strict=True)]
        assert max(gaps) <= 4.5, (i, gaps)
    plain = db_rows(cfg, "select status from runs where source != 'hostile' and status != "
                         "'cancelled'")
    assert {r["status"] for r in plain} == {"ok"}
    assert set(mailed_urls(cfg)) == matching(sites, range(10), range(3))
