"""Prometheus metrics (SPEC §13): `newswatch web` gathers its series from the database
when scraped; `newswatch run` serves its in-process counters and /healthz on
`metrics.listen`. Every series is `newswatch_*`, and no label holds a URL."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run_cli
from tests.procs import DaemonProc, process_tree, wait_for
from tests.site.server import FixtureServer
from tests.smtp import free_port
from tests.test_alerts import maildir_config

pytestmark = pytest.mark.slow


def scrape(url: str, token: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]],
                                                         float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=10) as r:
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert s.name.startswith("newswatch_"), s.name
            assert not any("://" in v for v in s.labels.values()), s
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_the_web_views_metrics_come_from_the_database(fresh_site: FixtureServer,
                                                      tmp_path: Path) -> None:
    from tests.test_web import TOKEN, Web

    cfg = maildir_config(tmp_path, fresh_site)
    cfg.write_text(cfg.read_text().replace("sources:\n", "sources:\n  - name: gone\n"
                                           "    feeds: ['http://127.0.0.1:1/feed.xml']\n"
                                           "  - name: later\n    feeds: ['http://127.0.0.1:1/x']\n"
                                           , 1))
    assert run_cli("crawl", "--source", "daily", "--source", "gone", config=cfg).returncode == 1
    web = Web(cfg).up()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            scrape(web.base + "/metrics")
        assert err.value.code == 401
        got = scrape(web.base + "/metrics", TOKEN)
        with urllib.request.urlopen(web.base + "/healthz", timeout=10) as r:
            assert r.status == 200  # a probe needs no token
    finally:
        assert web.stop() == 0
    assert value(got, "newswatch_sources", health="healthy") == 2  # daily, and gone (once)
    assert value(got, "newswatch_sources", health="never_polled") == 1  # later
    assert value(got, "newswatch_runs_last_hour", outcome="ok") == 1
    assert value(got, "newswatch_runs_last_hour", outcome="failed") == 1
    assert value(got, "newswatch_outbox", state="sent", kind="email") == 2
    assert value(got, "newswatch_outbox", state="pending", kind="channel") == 0
    age = value(got, "newswatch_source_last_good_poll_age_seconds", source="daily")
    assert age is not None and 0 <= age < 300
    assert value(got, "newswatch_source_last_good_poll_age_seconds", source="gone") is None
    assert value(got, "newswatch_poll_lateness_seconds", stat="max") == 0


def test_the_daemon_serves_its_counters_and_health(fresh_site: FixtureServer,
                                                   tmp_path: Path) -> None:
    cfg = maildir_config(tmp_path, fresh_site)
    port = free_port()
    cfg.write_text(cfg.read_text().replace("/feed.xml\"]",
                                           "/feed.xml\"]\n    every: 2s\n    every_max: 2s", 1)
                   + f"metrics:\n  listen: 127.0.0.1:{port}\ndaemon:\n  send_every: 1s\n")
    daemon = DaemonProc(cfg)
    base = f"http://127.0.0.1:{port}"
    try:
        def sent() -> bool:
            try:
                got = scrape(base + "/metrics")
            except OSError:
                return False
            return (value(got, "newswatch_alert_delay_seconds_count") or 0) >= 2
        wait_for(sent, 90, "two alerts sent and timed")
        got = scrape(base + "/metrics")
        assert (value(got, "newswatch_polls_total", outcome="ok") or 0) >= 1
        assert (value(got, "newswatch_pages_total") or 0) >= 1
        assert (value(got, "newswatch_extraction_seconds_total") or 0) > 0
        assert value(got, "newswatch_queue_depth") is not None
        assert value(got, "newswatch_worker_restarts_total") == 0
        with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
            assert r.status == 200 and r.read() == b"ok\n"
        # the crawl worker dies: the daemon replaces it and counts it
        workers = [pid for pid, stat in process_tree(daemon.pid).items()
                   if int(stat[1]) == daemon.pid]  # the crawl worker: the daemon's child
        assert len(workers) == 1, workers
        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: value(scrape(base + "/metrics"),
                               "newswatch_worker_restarts_total") == 1, 60,
                 "the restart to be counted")
    finally:
        assert daemon.stop() == 0, daemon.text()
