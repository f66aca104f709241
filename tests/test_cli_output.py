"""What the commands print: a crawl is quiet but for its table and alert summary (and
only what failed with -q), tables fit 80 columns without cutting words, times are in
the config's timezone, and a dry run says when digest alerts would go."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from tests.conftest import run_cli, table_row, write_config
from tests.site.server import FixtureServer


def config(tmp_path: Path, site: FixtureServer, extra: str = "") -> Path:
    return write_config(tmp_path, dedent(f"""
        timezone: Asia/Karachi
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
          - name: a-source-with-a-rather-long-name
            sitemaps: ["{site.base}/sitemap.xml"]
        watches:
          - name: councils
            query: '"crypto council"'
          - name: mous
            query: 'MoU'
            digest: daily@08:00
        alerts:
          to: [desk@example.org]
          maildir: mail
        """) + extra)


def test_a_crawl_prints_its_table_and_summary_and_nothing_else(fresh_site: FixtureServer,
                                                                tmp_path: Path) -> None:
    proc = run_cli("crawl", config=config(tmp_path, fresh_site), env={"COLUMNS": "80"})
    assert proc.returncode == 0
    assert proc.stderr == ""  # no Scrapy start-up log, no INFO lines
    lines = proc.stdout.splitlines()
    assert lines[0].strip() == "newswatch crawl"
    summary = next(i for i, line in enumerate(lines) if line.startswith("alerts: "))
    assert lines[summary:summary + 2] == [
        "alerts: sent 1 email; retry later 0, failed 0",
        "outbox: 1 composed now; 0 pending, 0 failed, 1 waiting for a digest"]
    assert lines[summary + 2].startswith("emails: maildir")  # its path whole, maybe below
    # 80 columns: every line fits (but the maildir's path), every heading and name
    # whole; the secondary counts are left out, and the table says so
    assert max(len(line) for line in lines[:summary + 2]) <= 80
    assert "…" not in proc.stdout
    for word in ("source", "result", "pages", "known", "matches", "alerts", "errors"):
        assert word in proc.stdout
    assert "a-source-with-a-rather-long-name" in proc.stdout
    assert "left out at 80 columns: pages, too old, known, bad links" in proc.stdout
    wide = run_cli("crawl", "--wide", config=config(tmp_path, fresh_site),
                   env={"COLUMNS": "80"}).stdout
    assert any(line.split()[:2] == ["too", "no"] for line in wide.splitlines())
    assert table_row(wide, "daily")["new"] == "0"  # seen by the first crawl
    assert "left out" not in wide


def test_quiet_prints_only_what_failed(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site)
    assert run_cli("crawl", "-q", config=cfg).stdout == ""
    broken = config(tmp_path, fresh_site, dedent("""\
        """)).read_text().replace(f"{fresh_site.base}/feed.xml",
                                  f"{fresh_site.base}/no-such-feed.xml")
    cfg.write_text(broken, encoding="utf-8")
    proc = run_cli("crawl", "-q", config=cfg)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"newswatch: source daily failed: feed {fresh_site.base}/no-such-feed.xml: "
        "HTTP 404 Not Found"]


def test_status_shows_times_in_the_configs_timezone(fresh_site: FixtureServer,
                                                    tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site)
    run_cli("crawl", "-q", config=cfg)
    proc = run_cli("status", config=cfg, env={"COLUMNS": "80"})
    assert proc.returncode == 0
    assert "sources (times in Asia/Karachi)" in proc.stdout
    assert "PKT" in proc.stdout and "UTC" not in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    assert "…" not in proc.stdout


def test_a_dry_run_holds_digest_alerts_for_their_digest(fresh_site: FixtureServer,
                                                        tmp_path: Path) -> None:
    proc = run_cli("crawl", "--dry-run", config=config(tmp_path, fresh_site))
    assert proc.returncode == 0
    # councils is immediate: one email now; mous waits for 08:00 Karachi time
    assert "dry run: nothing was sent, nothing was stored\ndry run: 1 email would be sent " \
           "now\n" in proc.stdout
    assert "dry run: 1 alert(s) of mous would wait for its daily@08:00 digest, due " in \
        proc.stdout
    assert "08:00 PKT" in proc.stdout
    assert "== mous ==" not in proc.stdout
