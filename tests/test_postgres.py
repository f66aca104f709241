"""PostgreSQL by URL: `newswatch crawl` (a subprocess) stores into a real PostgreSQL
server what it stores into SQLite, a second crawl downloads no stored article, the
matches become alerts sent once, and the daemon runs on it."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from newswatch.store.db import Store
from tests.conftest import run_cli
from tests.pg import PostgresServer
from tests.procs import DaemonProc, wait_for
from tests.site.server import FixtureServer
from tests.test_alerts import maildir_config
from tests.test_crawl import feed_and_sitemap_config
from tests.test_daemon import daemon_config, late_article, mails


def pg_rows(url: str, sql: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql)).mappings()]
    finally:
        engine.dispose()


def on_database(cfg: Path, url: str) -> Path:
    """The test config `cfg`, storing into the database at `url` instead of nw.db."""
    text = cfg.read_text(encoding="utf-8")
    assert text.startswith("database: nw.db\n")
    cfg.write_text(text.replace("database: nw.db", f'database: "{url}"', 1), encoding="utf-8")
    return cfg


def test_crawl_into_postgresql(fresh_site: FixtureServer, postgres: PostgresServer,
                               tmp_path: Path) -> None:
    url = postgres.new_database()
    cfg = on_database(feed_and_sitemap_config(tmp_path, fresh_site), url)
    proc = run_cli("crawl", "--source", "daily", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "nw.db").exists()
    rows = pg_rows(url, "select * from articles order by url")
    by_slug = {r["url"].rstrip("/").rsplit("/", 1)[1]: r for r in rows}
    council = by_slug["crypto-council-first-meeting"]
    assert council["title"] == "National Crypto Council holds its first meeting in Islamabad"
    assert council["text"].startswith("The newly formed Pakistan Crypto Council met")
    store = Store(url)
    stored = store.article(council["id"])
    store.close()
    assert stored is not None and stored["first_seen"].utcoffset() == timedelta(0)
    assert by_slug["old-archive-story"]["too_old"] is True
    assert len(rows) == 6
    keys = {r["url_key"] for r in pg_rows(url, "select url_key from url_aliases")}
    assert {r["url_key"] for r in rows} <= keys

    fresh_site.state.reset_hits()
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert sum(n for p, n in fresh_site.state.hits.items() if p.startswith("/news/")) == 0
    assert "If-None-Match" in fresh_site.state.headers["/feed.xml"][-1]
    assert len(pg_rows(url, "select id from articles")) == 6
    runs = pg_rows(url, "select source, status, known from runs order by id")
    assert runs[-1]["source"] in {"daily", "daily-sitemap"}
    assert {r["known"] for r in runs if r["source"] == "daily-sitemap"} == {5}
    status = run_cli("status", config=cfg)
    assert status.returncode == 0, status.stderr


def test_alerts_from_postgresql(fresh_site: FixtureServer, postgres: PostgresServer,
                                tmp_path: Path) -> None:
    url = postgres.new_database()
    cfg = on_database(maildir_config(tmp_path, fresh_site), url)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    mail = tmp_path / "mail" / "new"
    assert len(list(mail.iterdir())) == 2
    watches = {r["watch"] for r in pg_rows(url, "select watch from matches")}
    assert watches == {"councils", "pakistan-crypto", "mous"}
    assert run_cli("crawl", config=cfg).returncode == 0
    assert len(list(mail.iterdir())) == 2  # nothing is sent twice
    status = run_cli("status", config=cfg)
    assert "0 pending, 0 failed, 2 sent" in status.stdout, status.stdout


@pytest.mark.slow
def test_the_daemon_on_postgresql(fresh_site: FixtureServer, postgres: PostgresServer,
                                  tmp_path: Path) -> None:
    url = postgres.new_database()
    cfg = on_database(daemon_config(tmp_path, fresh_site), url)
    daemon = DaemonProc(cfg)
    try:
        wait_for(lambda: mails(cfg) == 1, 60, "the first email")
        fresh_site.state.articles.append(late_article())
        wait_for(lambda: mails(cfg) == 2, 30, "the new article's email")
        assert daemon.stop() == 0
    finally:
        if daemon.proc.poll() is None:
            os.killpg(daemon.proc.pid, signal.SIGKILL)
            daemon.proc.wait()
    runs = pg_rows(url, "select status from runs where source = 'daily'")
    assert len(runs) >= 2 and {r["status"] for r in runs} == {"ok"}
    assert not (tmp_path / "nw.db").exists()
