"""Retention and backups (SPEC §13): a store aged past its windows is pruned as the
config says (`prune --dry-run` counts, `prune` deletes), a pruned article is never
fetched or alerted again while its URL is remembered, each source keeps its last runs,
and `backup` writes a consistent owner-only copy."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import db_rows, run_cli
from tests.site.server import FixtureServer
from tests.test_alerts import maildir_config


def sql(cfg: Path, statement: str, *params: object) -> None:
    con = sqlite3.connect(cfg.parent / "nw.db")
    try:
        con.execute(statement, params)
        con.commit()
    finally:
        con.close()


def ago(days: float) -> str:
    """A stored time (naive UTC, as the store writes it) `days` ago."""
    return (datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=None).isoformat(" ")


def count(cfg: Path, query: str) -> int:
    return int(db_rows(cfg, f"select count(*) as n from ({query})")[0]["n"])


def test_prune_keeps_urls_and_never_alerts_again(fresh_site: FixtureServer,
                                                 tmp_path: Path) -> None:
    cfg = maildir_config(tmp_path, fresh_site)
    assert run_cli("crawl", config=cfg).returncode == 0
    mails = len(list((tmp_path / "mail" / "new").iterdir()))
    articles = count(cfg, "select id from articles")
    matches = count(cfg, "select id from matches")
    assert mails and articles and matches
    # 25 earlier runs of the source, all old, and the store's contents aged
    for i in range(25):
        sql(cfg, "insert into runs (source, started, finished, status, pages) values "
                 "('daily', ?, ?, 'ok', 1)", ago(60 + i), ago(60 + i))
    sql(cfg, "update articles set first_seen = ?", ago(100))
    sql(cfg, "update emails set sent = ?, created = ?", ago(40), ago(40))
    runs = count(cfg, "select id from runs")

    dry = run_cli("prune", "--dry-run", config=cfg)
    assert dry.returncode == 0, dry.stderr
    assert f"articles: {articles} first seen over 90d ago would lose their text and " \
           f"{matches} match(es)" in dry.stdout, dry.stdout
    assert f"runs: {runs - 20} older than 30d would be deleted" in dry.stdout
    assert f"alerts: {mails} sent or failed email(s) older than 30d would be deleted" \
        in dry.stdout
    assert "dry run: nothing was deleted" in dry.stdout
    assert count(cfg, "select id from matches") == matches  # nothing changed
    assert count(cfg, "select id from articles where text is not null") > 0

    done = run_cli("prune", config=cfg)
    assert done.returncode == 0, done.stderr
    assert f"articles: {articles} first seen over 90d ago lost their text" in done.stdout
    assert count(cfg, "select id from matches") == 0
    assert count(cfg, "select id from outbox") == 0
    assert count(cfg, "select id from emails") == 0
    assert count(cfg, "select id from articles where text is not null") == 0
    assert count(cfg, "select id from articles where pruned is not null") == articles
    assert count(cfg, "select id from runs") == 20  # the newest 20 stay, whatever their age
    assert count(cfg, "select url_key from url_aliases") >= articles

    # the feed still lists them: known, not fetched, not matched, not alerted
    fresh_site.state.reset_hits()
    again = run_cli("crawl", config=cfg)
    assert again.returncode == 0, again.stderr
    assert count(cfg, "select id from matches") == 0
    assert len(list((tmp_path / "mail" / "new").iterdir())) == mails
    assert not [p for p in fresh_site.state.hits if "/news/" in p], fresh_site.state.hits
    status = run_cli("status", config=cfg)
    assert status.returncode == 0 and "healthy" in status.stdout, status.stdout
    backtest = run_cli("backtest", "--since", "all", "--query", "council", config=cfg)
    assert "0 of 0 stored articles" in " ".join(backtest.stdout.split()), backtest.stdout

    # past retention.urls they are forgotten whole
    sql(cfg, "update articles set first_seen = ?", ago(800))
    forgot = run_cli("prune", config=cfg)
    assert f"URLs: {articles} pruned article(s) first seen over 2y ago were forgotten" \
        in forgot.stdout, forgot.stdout
    assert count(cfg, "select id from articles") == 0
    assert count(cfg, "select url_key from url_aliases") == 0


def test_none_keeps_forever(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = maildir_config(tmp_path, fresh_site)
    cfg.write_text(cfg.read_text() + "retention:\n  articles: none\n  runs: none\n"
                   "  alerts: none\n")
    assert run_cli("crawl", config=cfg).returncode == 0
    sql(cfg, "update articles set first_seen = ?", ago(5000))
    sql(cfg, "update emails set sent = ?, created = ?", ago(5000), ago(5000))
    done = run_cli("prune", config=cfg)
    assert done.returncode == 0, done.stderr
    assert "retention: articles forever, runs forever, alerts forever, urls 2y" in done.stdout
    assert "nothing was old enough to prune" in done.stdout
    assert count(cfg, "select id from articles where text is not null") > 0


def test_backup_is_a_consistent_owner_only_copy(fresh_site: FixtureServer,
                                                tmp_path: Path) -> None:
    cfg = maildir_config(tmp_path, fresh_site)
    assert run_cli("crawl", config=cfg).returncode == 0
    target = tmp_path / "backups" / "nw-copy.db"
    target.parent.mkdir()
    done = run_cli("backup", str(target), config=cfg)
    assert done.returncode == 0, done.stderr
    assert f"written to {target}" in done.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    con = sqlite3.connect(target)
    try:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        copied = con.execute("select count(*) from articles").fetchone()[0]
    finally:
        con.close()
    assert copied == count(cfg, "select id from articles") > 0
    again = run_cli("backup", str(target), config=cfg)
    assert again.returncode == 2 and "exists" in again.stderr
    pg = tmp_path / "pg.yaml"
    pg.write_text("database: postgresql://nw@127.0.0.1:1/nw\n")
    refused = run_cli("backup", str(tmp_path / "x.db"), config=pg)
    assert refused.returncode == 2 and "pg_dump" in refused.stderr
