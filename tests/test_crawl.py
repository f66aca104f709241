"""End to end: `newswatch crawl` in a subprocess against the fixture site, asserting
what was stored and what was (not) requested."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, db_rows, run_cli, table_row, write_config
from tests.site.server import FixtureServer

FRESH = ["crypto-council-first-meeting", "blockchain-mou-signed", "virtual-assets-ordinance",
         "cricket-series-preview", "monsoon-dams-report"]


def daily_config(tmp_path: Path, site: FixtureServer) -> Path:
    return write_config(tmp_path, f"""
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
        """)


def _article_hits(site: FixtureServer) -> int:
    return sum(n for p, n in site.state.hits.items() if p.startswith("/news/"))


def test_feed_crawl_stores_clean_articles(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = daily_config(tmp_path, fresh_site)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    # the command ends without Python's teardown, but only after closing the database:
    # a cleanly closed SQLite database has folded its write-ahead log back in (checked
    # before this test opens the database itself)
    assert (tmp_path / "nw.db").exists() and not (tmp_path / "nw.db-wal").exists()
    # a clean crawl of a healthy site has nothing to warn about (but that the config
    # has no watches to match)
    warnings = [line for line in proc.stderr.splitlines() if " WARNING " in line
                and "MatchPipeline: no watches" not in line]
    assert not warnings, proc.stderr
    row = table_row(proc.stdout, "daily")
    assert row["result"] == "ok" and row["new"] == "5" and row["errors"] == "0", proc.stdout
    rows = db_rows(cfg, "select * from articles order by url")
    by_slug = {r["url"].rstrip("/").rsplit("/", 1)[1]: r for r in rows}
    assert set(by_slug) == {*FRESH, "old-archive-story"}
    council = by_slug["crypto-council-first-meeting"]
    assert council["title"] == "National Crypto Council holds its first meeting in Islamabad"
    assert council["text"].startswith("The newly formed Pakistan Crypto Council met")
    assert council["author"] == "Sana Qureshi"
    assert council["language"] == "en"
    assert council["has_text"] == 1 and council["too_old"] == 0
    for r in rows:
        # the canonical URL: no tracking parameters; no page clutter in the text
        assert "utm_" not in r["url"]
        text = r["text"] or ""
        assert "Latest news" not in text and "Crypto council row" not in text
        assert "All rights reserved" not in text and "reader42" not in text
    # the archive story's feed date is outside max_age: recorded, never downloaded
    old = by_slug["old-archive-story"]
    assert old["too_old"] == 1 and old["text"] is None
    assert not any("old-archive-story" in p for p in fresh_site.state.hits)
    runs = db_rows(cfg, "select * from runs")
    assert runs[0]["status"] == "ok" and runs[0]["new_articles"] == 5


def feed_and_sitemap_config(tmp_path: Path, site: FixtureServer) -> Path:
    """The site's feed and its sitemaps (found through robots.txt), as two sources."""
    return write_config(tmp_path, f"""
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
          - name: daily-sitemap
            sitemaps: ["{site.base}/robots.txt"]
        """)


def test_second_crawl_downloads_nothing_known(fresh_site: FixtureServer,
                                              tmp_path: Path) -> None:
    cfg = feed_and_sitemap_config(tmp_path, fresh_site)
    first = run_cli("crawl", "-v", "--source", "daily", config=cfg)
    assert first.returncode == 0, first.stderr
    assert "extraction workers starting" in first.stderr
    fresh_site.state.reset_hits()
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    # the feed answered 304 to the conditional request; the sitemap's article URLs
    # (without tracking parameters) are recognised as the feed's articles: no downloads
    assert _article_hits(fresh_site) == 0
    feed_headers = fresh_site.state.headers["/feed.xml"][-1]
    assert "If-None-Match" in feed_headers
    assert len(db_rows(cfg, "select id from articles")) == 6
    # the sitemap's five article links were found stored when it was parsed
    last = db_rows(cfg, "select known from runs where source = 'daily-sitemap'")
    assert last[-1]["known"] == 5
    # every listing read before and not modified since: the extraction workers, which
    # start at once when pages may come, are never started
    again = run_cli("crawl", "-v", "--source", "daily", config=cfg)
    assert again.returncode == 0, again.stderr
    assert "extraction workers starting" not in again.stderr
    assert _article_hits(fresh_site) == 0


def test_known_keys_are_looked_up_in_batches(tmp_path: Path) -> None:
    from sqlalchemy import event

    from newswatch.store.db import ArticleRecord, Store

    store = Store(f"sqlite:///{tmp_path / 'k.db'}")
    for i in range(5):
        store.add_article(ArticleRecord(url=f"https://x.example/{i}", url_key=f"x.example/{i}",
                                        source="s", aliases=(f"x.example/{i}?amp",)))
    statements: list[str] = []
    event.listen(store.reader, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))
    asked = [f"x.example/{i}" for i in range(7)] + ["x.example/3?amp", "x.example/3"]
    assert store.known_keys(asked, batch=2) == {
        *(f"x.example/{i}" for i in range(5)), "x.example/3?amp"}
    assert len(statements) == 4  # 8 distinct keys, 2 a statement
    assert store.known_keys([f"x.example/{i}" for i in range(1000)]) == {
        f"x.example/{i}" for i in range(5)}
    assert len(statements) == 6  # 1,000 keys, 500 a statement
    assert store.known_keys([]) == set()
    assert len(statements) == 6  # nothing asked, no statement
    store.close()


def test_sitemaps_from_robots_with_news_and_old_index(fresh_site: FixtureServer,
                                                     tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"""
        sources:
          - name: maps
            sitemaps: ["{fresh_site.base}/robots.txt"]
        """)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    rows = db_rows(cfg, "select url, published, has_text from articles where has_text = 1")
    assert len(rows) == 5
    # the child sitemap whose lastmod is older than max_age is not even fetched
    assert fresh_site.state.count("/sitemap-news.xml") == 1
    assert fresh_site.state.count("/sitemap-2019.xml") == 0


def test_listing_pages_follow_allow_and_deny(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"""
        sources:
          - name: business
            pages: ["{fresh_site.base}/section/business/"]
            follow:
              allow: ['/news/\\d{{4}}/']
              deny: ['ordinance']
        """)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    urls = sorted(r["url"] for r in db_rows(cfg, "select url from articles"))
    assert [u.rstrip("/").rsplit("/", 1)[1] for u in urls] == [
        "blockchain-mou-signed", "crypto-council-first-meeting"]
    # menus, footers and the tag page were not followed
    assert fresh_site.state.count("/about/") == 0
    assert fresh_site.state.count("/tag/crypto/") == 0


def test_site_discovery_finds_the_feed(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"""
        sources:
          - name: discovered
            site: "{fresh_site.base}/"
        """)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert fresh_site.state.count("/feed.xml") == 1
    assert fresh_site.state.count("/sitemap.xml") == 1
    texts = db_rows(cfg, "select url from articles where has_text = 1")
    assert len(texts) == 5


def test_hostile_pages_are_counted_not_fatal(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"""
        sources:
          - name: hostile
            feeds: ["{fresh_site.base}/hostile/feed.xml"]
            max_age: none
        """)
    proc = run_cli("crawl", config=cfg, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["url"].rstrip("/").rsplit("/", 1)[1]: r for r in db_rows(
        cfg, "select url, title, text, has_text from articles")}
    # undeclared charsets decoded right
    assert "Café société" in rows["latin1"]["title"]
    assert "naïve" in rows["latin1"]["text"] and "crêperie" in rows["latin1"]["text"]
    assert "مجلس العملات الرقمية" in rows["arabic"]["text"]
    # a page with no article text is stored as seen, without text
    assert rows["empty"]["has_text"] == 0
    # nothing stored for the PDF, the 6 MB page, the gzip bomb, the loop, the 500, the slow one
    for name in ("report.pdf", "huge", "bomb", "loop", "error", "slow", "meta", "private"):
        assert name not in rows
    # robots.txt forbids /private/: never requested
    assert fresh_site.state.count("/private/secret/") == 0
    run = db_rows(cfg, "select * from runs")[0]
    assert run["status"] == "ok"
    assert run["no_text"] == 1
    # huge, bomb, 500, slow, the redirect loop and the two forbidden redirects
    assert run["errors"] == 7
    row = table_row(proc.stdout, "hostile")
    assert row["result"] == "ok" and row["errors"] == "7" and row["no text"] == "1"


def test_redirects_to_private_and_link_local_addresses_are_refused(
        fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"""
        sources:
          - name: hostile
            feeds: ["{fresh_site.base}/hostile/feed.xml"]
            max_age: none
        """)
    proc = run_cli("crawl", "-v", config=cfg, timeout=180)
    log = proc.stderr
    assert "refused non-public address 169.254.169.254" in log
    assert "refused non-public address 10.0.0.1" in log


def test_loopback_is_refused_without_opt_in(fresh_site: FixtureServer, tmp_path: Path) -> None:
    port = fresh_site.base.rsplit(":", 1)[1]
    cfg = write_config(tmp_path, f"""
        sources:
          - name: literal
            feeds: ["{fresh_site.base}/feed.xml"]
          - name: by-name
            feeds: ["http://localhost:{port}/atom.xml"]
        """, crawl="crawl: {download_delay: 0s, timeout: 3s}\n")
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert fresh_site.state.count("/feed.xml") == 0
    assert fresh_site.state.count("/atom.xml") == 0
    assert fresh_site.state.count("/robots.txt") == 0
    statuses = {r["source"]: r["status"] for r in db_rows(cfg, "select * from runs")}
    assert statuses == {"literal": "failed", "by-name": "failed"}


def test_a_source_whose_feeds_all_fail_fails_the_crawl(fresh_site: FixtureServer,
                                                       tmp_path: Path) -> None:
    fresh_site.state.broken_feed = True
    cfg = write_config(tmp_path, f"""
        sources:
          - name: broken
            feeds: ["{fresh_site.base}/feed.xml"]
          - name: fine
            feeds: ["{fresh_site.base}/atom.xml", "{fresh_site.base}/rdf.xml"]
        """)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 1
    statuses = {r["source"]: r["status"] for r in db_rows(cfg, "select * from runs")}
    assert statuses == {"broken": "failed", "fine": "ok"}
    assert len(db_rows(cfg, "select id from articles where source = 'fine'")) == 6


def test_max_age_uses_the_page_date(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"""
        sources:
          - name: national
            pages: ["{fresh_site.base}/section/national/"]
            follow: {{allow: ['/news/']}}
            max_age: 10d
        """)
    assert run_cli("crawl", config=cfg).returncode == 0
    rows = {r["url"].rstrip("/").rsplit("/", 1)[1]: r for r in db_rows(
        cfg, "select url, too_old, has_text from articles")}
    # no feed date here: the archive page is downloaded, its own date puts it out of window
    assert rows["old-archive-story"]["too_old"] == 1
    assert rows["old-archive-story"]["has_text"] == 1
    assert rows["monsoon-dams-report"]["too_old"] == 0


def test_dry_run_stores_nothing(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = daily_config(tmp_path, fresh_site)
    proc = run_cli("crawl", "--dry-run", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert db_rows(cfg, "select id from articles") == []
    assert _article_hits(fresh_site) == 5


def test_unknown_source_is_a_usage_error(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = daily_config(tmp_path, fresh_site)
    proc = run_cli("crawl", "--source", "nope", config=cfg)
    assert proc.returncode == 2
    assert "unknown source" in proc.stderr


def test_scrapy_list_and_crawl_use_the_config(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"""
        sources:
          - name: daily
            feeds: ["{fresh_site.base}/feed.xml"]
          - name: maps
            sitemaps: ["{fresh_site.base}/sitemap.xml"]
        """)
    env = {**os.environ, "NEWSWATCH_CONFIG": str(cfg), "NEWSWATCH_EXTRACT_WORKERS": "1"}
    listed = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    # `newswatch` is the engine spider over every source; each source has its own name
    assert sorted(listed.stdout.split()) == ["daily", "maps", "newswatch"], listed.stderr
    crawled = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "maps"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
    assert crawled.returncode == 0, crawled.stderr
    assert len(db_rows(cfg, "select id from articles where has_text = 1")) == 5
    assert [r["source"] for r in db_rows(cfg, "select source from runs")] == ["maps"]


def test_a_loaded_config_is_handed_to_scrapy_not_read_again(tmp_path: Path) -> None:
    from scrapy.settings import Settings

    from newswatch.config.loader import load_config
    from newswatch.spiders.loader import ConfigSpiderLoader

    cfg = write_config(tmp_path, """
        sources:
          - name: daily
            feeds: ["http://127.0.0.1:9/feed.xml"]
        """)
    config = load_config(cfg)
    cfg.unlink()  # reading the file again would now fail
    loader = ConfigSpiderLoader.of(config)(Settings({"NEWSWATCH_CONFIG": str(cfg)}))
    assert sorted(loader.list()) == ["daily", "newswatch"]
    assert loader.config is config
    assert loader.load("daily").sources == ["daily"]  # type: ignore[attr-defined]


def test_no_remote_consoles(fresh_site: FixtureServer, tmp_path: Path) -> None:
    """Neither the telnet console nor Scrapy's code-running remote-control server is
    enabled in a crawl."""
    cfg = daily_config(tmp_path, fresh_site)
    proc = run_cli("crawl", "-v", config=cfg)
    assert proc.returncode == 0, proc.stderr
    enabled = proc.stderr.split("Enabled extensions:", 1)[1].split("]", 1)[0]
    assert "TelnetConsole" not in enabled
    assert "RemoteControl" not in enabled
    assert "Telnet console listening" not in proc.stderr
    assert "remote control" not in proc.stderr.lower()


def test_the_extraction_warm_up_sample_goes_through_the_whole_extractor() -> None:
    # the fork server's warm-up is only worth its time if its page reaches metadata,
    # date and text extraction, as a real article does
    from newswatch.pipeline.extract import extract_page
    from newswatch.pipeline.warmup import SAMPLE

    result = extract_page("https://courier.example/news/bridge-repairs/", SAMPLE, "utf-8")
    assert result["title"] == "Council agrees bridge repairs"
    assert result["date"].startswith("2026-03-02")
    assert result["author"] == "A Reporter"
    assert "temporary crossing could open within six weeks" in result["text"]
    assert result["fingerprint"]


def test_the_extraction_pool_pipes_hold_a_whole_page() -> None:
    # a page (~170 KB) goes to a worker in one write instead of 64 KiB at a time
    import fcntl
    import multiprocessing

    from newswatch.pipeline.pool import _WidePipes

    reader, writer = _WidePipes(multiprocessing.get_context("forkserver")).Pipe(duplex=False)
    try:
        assert fcntl.fcntl(writer.fileno(), fcntl.F_GETPIPE_SZ) == _WidePipes.SIZE
        page = b"x" * 300_000
        writer.send_bytes(page)  # would block with a 64 KiB pipe and no reader
        assert reader.recv_bytes() == page
    finally:
        reader.close()
        writer.close()
