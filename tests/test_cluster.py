"""Several machines (SPEC §11): schedulers and crawl workers as separate processes, as
they would run on separate hosts, sharing polls through the job queue on a real
PostgreSQL server, against news sites on distinct loopback addresses. Every source is
polled each interval and never by two workers at once; a worker or the leading
scheduler killed mid-work is taken over; the database restarted under them is
survived; no alert is lost or sent twice."""

from __future__ import annotations

import email
import itertools
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from newswatch.service.cluster import database
from tests.conftest import run_cli
from tests.procs import DaemonProc, Starter, wait_for
from tests.site.many import ManySites
from tests.test_engine import config as engine_config
from tests.test_engine import mailed_urls, matching

pytestmark = pytest.mark.slow


@pytest.fixture
def sites() -> Iterator[ManySites]:
    server = ManySites(20).start()
    yield server
    server.stop()


def config(tmp_path: Path, url: str, sources: str) -> Path:
    """test_engine's config, on the PostgreSQL database, which is the queue too, set up
    by `newswatch migrate`."""
    path = engine_config(tmp_path, sources, "heartbeat: 1s\ntime_limit: 2m")
    path.write_text(path.read_text().replace(
        "database: nw.db\n", f"database: {url}\nqueue: {url}\n"), encoding="utf-8")
    done = run_cli("migrate", config=path)  # the queue's tables: `run` and `worker` need them
    assert done.returncode == 0, done.stderr
    return path


def rows(url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(database.libpq_url(url), row_factory=dict_row) as conn:
        return list(conn.execute(sql))  # type: ignore[arg-type]


def overlapping(runs: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """Pairs of runs of one source whose times overlap."""
    out = []
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_source.setdefault(r["source"], []).append(r)
    for group in by_source.values():
        group.sort(key=lambda r: r["started"])
        for a, b in itertools.pairwise(group):
            if a["finished"] is None or b["started"] < a["finished"]:
                out.append((a, b))
    return out


def leader_log(procs: list[DaemonProc]) -> DaemonProc:
    leads = [p for p in procs if "now leads" in p.text()]
    assert len(leads) == 1, [p.text()[-2000:] for p in procs]
    return leads[0]


@pytest.mark.serial
def test_one_scheduler_two_workers_poll_every_source_once_at_a_time(
        postgres: Any, sites: ManySites, tmp_path: Path, start: Starter) -> None:
    url = postgres.new_database()
    cfg = config(tmp_path, url, sites.sources_yaml("4s", fixed=True))
    workers = [start(cfg, "worker", "w1.log"), start(cfg, "worker", "w2.log")]
    scheduler = start(cfg)
    first = matching(sites, range(20), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) == first, 90, "the first articles' alerts")
    began = time.time()
    time.sleep(12)
    later = {sites.article_url(i, sites.publish(i)) for i in range(0, 20, 2)}
    wait_for(lambda: set(mailed_urls(cfg)) == first | later, 30, "the new articles' alerts")
    end = time.time()
    shown = run_cli("status", config=cfg)
    assert shown.returncode == 0, shown.stderr
    assert re.search(rf"scheduler: \S+:{scheduler.pid} leads", shown.stdout), shown.stdout
    for w in workers:  # each worker with its pid, running, its heartbeat seconds old
        assert re.search(rf"\b{w.pid}\s+running\s+\d+\s+\d+ s ago", shown.stdout), shown.stdout
    assert scheduler.stop() == 0
    for w in workers:
        assert w.stop() == 0, w.text()[-3000:]
    assert max(mailed_urls(cfg).values()) == 1  # no alert twice
    runs = rows(url, "select * from runs")
    assert {r["status"] for r in runs} == {"ok"}, [r["message"] for r in runs]
    # never two polls of one source at once, by one worker or two
    assert not overlapping(runs)
    # both workers polled, each known by its host and pid
    pids = {w.pid for w in workers}
    assert {int(r["worker"].rpartition(":")[2]) for r in runs} == pids
    # the site's own log: each source's feed asked for in every interval (4 s, with
    # slack for the queue's hand-over), and once per run
    for i in range(20):
        times = [h.began for h in sites.requests("/feed.xml")
                 if h.host == sites.outlets[i].host]
        inside = [t for t in times if began <= t <= end]
        gaps = [b - a for a, b in zip([began, *inside], [*inside, end], strict=True)]
        assert max(gaps) <= 6.0, (i, gaps)
        assert len(times) == len([r for r in runs if r["source"] == f"site{i}"])


@pytest.mark.serial
def test_a_worker_killed_mid_poll_has_its_poll_taken_by_the_other(
        postgres: Any, sites: ManySites, tmp_path: Path, start: Starter) -> None:
    url = postgres.new_database()
    sites.outlets[9].hang = True  # its article pages never answer: always mid-poll
    sources = sites.sources_yaml("3s", 9, fixed=True) + (
        f'  - name: hangs\n    feeds: ["{sites.base(9)}/feed.xml"]\n    every: 3s\n'
        f"    every_max: 3s\n    timeout: 60s\n")
    cfg = config(tmp_path, url, sources)
    workers = {w.pid: w for w in (start(cfg, "worker", "w1.log"),
                                  start(cfg, "worker", "w2.log"))}
    start(cfg)
    first = matching(sites, range(9), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) == first, 90, "the first articles' alerts")

    def hanging() -> list[dict[str, Any]]:
        return rows(url, "select * from runs where source = 'hangs' order by id")

    wait_for(lambda: any(r["status"] == "running" for r in hanging()), 30, "the hanging poll")
    run = next(r for r in hanging() if r["status"] == "running")
    victim = int(run["worker"].rpartition(":")[2])
    os.killpg(victim, signal.SIGKILL)
    killed_at = time.time()
    other = next(pid for pid in workers if pid != victim)
    wait_for(lambda: any(int(r["worker"].rpartition(":")[2]) == other for r in hanging()),
             120, "the hanging source polled by the other worker")
    taken = time.time() - killed_at
    failed = next(r for r in hanging() if r["id"] == run["id"])
    assert failed["status"] == "failed"
    assert f"worker {run['worker']} stopped answering" in failed["message"]
    assert taken < 30  # three missed heartbeats of 1 s, then the leader's next beat
    later = {sites.article_url(i, sites.publish(i)) for i in range(9)}
    wait_for(lambda: set(mailed_urls(cfg)) == first | later, 60, "alerts after the kill")
    assert max(mailed_urls(cfg).values()) == 1
    shown = run_cli("status", config=cfg).stdout
    assert re.search(rf"\b{victim}\s+silent\b", shown), shown
    assert re.search(rf"\b{other}\s+running\s+1\s", shown), shown  # the hanging poll
    assert workers[other].stop() == 0


def mailed_to(cfg: Path) -> dict[str, Counter[str]]:
    """recipient -> how many times each article URL was emailed to them."""
    found: dict[str, Counter[str]] = {}
    for path in (cfg.parent / "mail" / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes())
        urls = found.setdefault(str(msg["To"]), Counter())
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                urls.update(re.findall(r"^(http://127\.1\.\S+?)\r?$", payload.decode(),
                                       re.M))
    return found


def test_a_standby_scheduler_leads_within_30_s_of_the_leaders_death(
        postgres: Any, sites: ManySites, tmp_path: Path, start: Starter) -> None:
    url = postgres.new_database()
    cfg = config(tmp_path, url, sites.sources_yaml("3s", 6, fixed=True))
    cfg.write_text(cfg.read_text().replace(
        "watches:\n", "watches:\n  - name: council-digest\n    query: '\"crypto council\"'\n"
                      "    to: [boss@example.org]\n    digest: hourly\n", 1))
    start(cfg, "worker", "w1.log")
    schedulers = [start(cfg, "run", "s1.log"), start(cfg, "run", "s2.log")]
    first = matching(sites, range(6), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) >= first, 90, "the first articles' alerts")
    chief = leader_log(schedulers)
    standby = next(s for s in schedulers if s is not chief)
    os.killpg(chief.pid, signal.SIGKILL)
    # within 30 s of the kill (wait_for fails past its timeout)
    wait_for(lambda: "now leads" in standby.text(), 30, "the standby to lead")
    # the digest's hour has come: the new leader sends it, once
    with psycopg.connect(database.libpq_url(url)) as conn:
        conn.execute("update outbox set due = now() where digest = 'hourly'")
    later = {sites.article_url(i, sites.publish(i)) for i in range(6)}
    wait_for(lambda: set(mailed_to(cfg).get("desk@example.org", {})) == first | later, 60,
             "immediate alerts from the new leader")
    wait_for(lambda: set(mailed_to(cfg).get("boss@example.org", {})) >= first, 30,
             "the digest from the new leader")
    assert standby.stop() == 0
    mailed = mailed_to(cfg)
    assert mailed["desk@example.org"] == Counter(first | later)  # each once
    assert max(mailed["boss@example.org"].values()) == 1
    assert "now leads" in standby.text() and "lost the lease" not in standby.text()


def test_workers_and_the_scheduler_survive_a_database_restart(
        postgres: Any, sites: ManySites, tmp_path: Path, start: Starter) -> None:
    url = postgres.new_database()
    cfg = config(tmp_path, url, sites.sources_yaml("3s", 6))
    worker = start(cfg, "worker", "w1.log")
    scheduler = start(cfg)
    first = matching(sites, range(6), range(3))
    wait_for(lambda: set(mailed_urls(cfg)) == first, 90, "the first articles' alerts")
    postgres.restart(down=6)  # twice the lease: the scheduler loses it meanwhile
    restarted = time.time()
    later = {sites.article_url(i, sites.publish(i)) for i in range(6)}
    wait_for(lambda: set(mailed_urls(cfg)) == first | later, 90,
             "alerts after the database restart")
    assert worker.proc.poll() is None and scheduler.proc.poll() is None
    ok_after = rows(url, f"select * from runs where status = 'ok' and started > "
                         f"to_timestamp({restarted})")
    assert {r["source"] for r in ok_after} == {f"site{i}" for i in range(6)}
    assert max(mailed_urls(cfg).values()) == 1
    # a source added to the config reaches the scheduler with SIGHUP, and the worker
    # reads the file again when it is handed a source it does not know
    added = "".join(sites.sources_yaml("3s", 7).partition("  - name: site6")[1:])
    cfg.write_text(cfg.read_text() + added)
    scheduler.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: any(r["status"] == "ok" for r in rows(
        url, "select status from runs where source = 'site6'")), 30, "the new source polled")
    assert "[site6] unknown source: config reloaded" in worker.text()
    assert scheduler.stop() == 0
    assert worker.stop() == 0
    # one line when the database went away and one when it came back, not one per try
    said = scheduler.text()
    assert said.count("the queue's database at") == 1, said[-3000:]
    assert said.count("answers again") == 1
    assert said.count("lost the lease") == 1 and said.count("now leads") == 2
    assert worker.text().count("cannot be reached") == 1, worker.text()[-3000:]
    assert worker.text().count("answers again") == 1
    assert "Traceback" not in said and "Traceback" not in worker.text()


def test_status_of_a_queue_nobody_used_yet_creates_nothing(
        postgres: Any, tmp_path: Path) -> None:
    url = postgres.new_database()
    cfg = tmp_path / "newswatch.yaml"
    cfg.write_text(f"database: {url}\nqueue: {url}\n", encoding="utf-8")
    shown = run_cli("status", config=cfg)
    assert shown.returncode == 0, shown.stderr
    assert "no scheduler or worker has used it yet" in shown.stdout
    assert rows(url, "select to_regclass('procrastinate_jobs') as t") == [{"t": None}]
