"""No silent misses on real-world listings (tests/site/misses.py): each case crawled
for real, asserting what was stored, the run's status and counters, and health."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tests.conftest import db_rows, run_cli, table_row, write_config
from tests.site.server import FixtureServer


def crawl_one(tmp_path: Path, site: FixtureServer, kind: str, url: str,
              times: int = 1) -> tuple[Path, list[str]]:
    cfg = write_config(tmp_path, dedent(f"""
        sources:
          - name: m
            {kind}: ["{url}"]
        """))
    outs = []
    for _ in range(times):
        proc = run_cli("crawl", config=cfg)
        outs.append(f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return cfg, outs


def newest(site: FixtureServer, n: int = 2) -> list[str]:
    arts = sorted(site.state.articles, key=lambda a: a.published, reverse=True)
    return [a.path for a in arts[:n]]


def stored(cfg: Path) -> dict[str, dict[str, object]]:
    return {r["url"]: r for r in db_rows(cfg, "select url, title, has_text, too_old, "
                                              "published from articles")}


def test_a_feed_on_another_host_than_its_articles(fresh_site: FixtureServer,
                                                  tmp_path: Path) -> None:
    cfg, (out,) = crawl_one(tmp_path, fresh_site, "feeds",
                            f"{fresh_site.base}/misses/other-host.xml")
    assert out.startswith("0\n"), out
    # fetched from the other host (not dropped as offsite), stored under the canonical
    # URL the pages give, on the site's own host
    row = table_row(out, "m")
    assert (row["pages"], row["new"]) == ("2", "2"), out
    assert {u for u, r in stored(cfg).items() if r["has_text"]} == {
        fresh_site.base + p for p in newest(fresh_site)}


def test_feedburner_links_go_to_the_original_article(fresh_site: FixtureServer,
                                                     tmp_path: Path) -> None:
    cfg, (out,) = crawl_one(tmp_path, fresh_site, "feeds",
                            f"{fresh_site.base}/misses/feedburner.xml")
    assert out.startswith("0\n"), out
    assert table_row(out, "m")["pages"] == "2", out
    assert set(stored(cfg)) == {fresh_site.base + p for p in newest(fresh_site)}
    assert fresh_site.state.count("/misses/proxy/0") == 0  # the origLink, not the proxy


def test_malformed_links_are_counted_and_cost_only_themselves(fresh_site: FixtureServer,
                                                              tmp_path: Path) -> None:
    cfg, (out,) = crawl_one(tmp_path, fresh_site, "feeds",
                            f"{fresh_site.base}/misses/bad-links.xml")
    assert out.startswith("0\n"), out
    assert set(stored(cfg)) == {fresh_site.base + p for p in newest(fresh_site)}
    run = db_rows(cfg, "select * from runs")[0]
    assert (run["status"], run["bad_links"], run["pages"]) == ("ok", 5, 2)
    assert table_row(out, "m")["bad links"] == "5"


def test_a_feed_that_serves_html_fails_its_run_and_its_health(fresh_site: FixtureServer,
                                                               tmp_path: Path) -> None:
    url = f"{fresh_site.base}/misses/html-feed.xml"
    cfg, outs = crawl_one(tmp_path, fresh_site, "feeds", url, times=3)
    assert all(out.startswith("1\n") for out in outs), outs
    assert table_row(outs[0], "m")["result"] == "failed"
    assert [r["status"] for r in db_rows(cfg, "select status from runs")] == ["failed"] * 3
    assert db_rows(cfg, "select state from source_health")[0]["state"] == "failing"
    assert "source m is now failing" in outs[2]
    # its ETag was not kept: every poll asked in full, so a fixed feed is read at once
    assert db_rows(cfg, "select * from http_validators") == []
    assert all("If-None-Match" not in h for h in
               fresh_site.state.headers["/misses/html-feed.xml"])


@pytest.mark.parametrize("kind,name", [("sitemaps", "robots.txt"),
                                       ("sitemaps", "garbage.xml.gz")])
def test_an_unreadable_sitemap_fails_the_run(fresh_site: FixtureServer, tmp_path: Path,
                                            kind: str, name: str) -> None:
    cfg, (out,) = crawl_one(tmp_path, fresh_site, kind, f"{fresh_site.base}/misses/{name}")
    assert out.startswith("1\n"), out
    assert db_rows(cfg, "select status from runs")[0]["status"] == "failed"
    assert table_row(out, "m")["errors"] == "1"


def test_a_feed_charset_named_only_in_its_header(fresh_site: FixtureServer,
                                                 tmp_path: Path) -> None:
    crawl_one(tmp_path, fresh_site, "feeds", f"{fresh_site.base}/misses/atom-nodecl.xml")
    # the link was read as UTF-8 (café), not as Latin-1 (cafÃ©)
    assert fresh_site.state.count("/news/caf%C3%A9/") == 1
    assert fresh_site.state.count("/news/caf%C3%83%C2%A9/") == 0


def test_plain_text_and_rss_sitemaps_are_read(fresh_site: FixtureServer,
                                              tmp_path: Path) -> None:
    for i, name in enumerate(("sitemap.txt", "rss-sitemap.xml")):
        folder = tmp_path / str(i)
        folder.mkdir()
        cfg, (out,) = crawl_one(folder, fresh_site, "sitemaps",
                                f"{fresh_site.base}/misses/{name}")
        assert out.startswith("0\n"), out
        assert set(stored(cfg)) == {fresh_site.base + p for p in newest(fresh_site)}


def test_sitemap_loops_end_and_image_and_video_blocks_are_not_the_page(
        fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg, (out,) = crawl_one(tmp_path, fresh_site, "sitemaps",
                            f"{fresh_site.base}/misses/loop-index.xml")
    assert out.startswith("0\n"), out
    for name in ("loop-index.xml", "loop-child.xml", "image-sitemap.xml"):
        assert fresh_site.state.count(f"/misses/{name}") == 1
    (url, row), = stored(cfg).items()
    assert url == fresh_site.base + newest(fresh_site, 1)[0]
    assert row["too_old"] == 0 and row["has_text"] == 1  # not the video's 2001 date
    assert fresh_site.state.count("/img/photo.jpg") == 0


def test_sitemaps_named_by_robots_txt_are_asked_every_poll(fresh_site: FixtureServer,
                                                           tmp_path: Path) -> None:
    crawl_one(tmp_path, fresh_site, "sitemaps", f"{fresh_site.base}/robots.txt", times=2)
    # robots.txt names the index; the index is asked (conditionally) on both polls
    assert fresh_site.state.count("/sitemap.xml") == 2
    assert fresh_site.state.count("/sitemap-news.xml") == 2


def test_urdu_watches_match_whichever_letter_forms_a_site_uses(fresh_site: FixtureServer,
                                                                tmp_path: Path) -> None:
    """The Urdu story is written with Arabic kaf and yeh in places, a tatweel and Urdu
    digits; the watches use the Urdu forms and ASCII digits (SPEC §5)."""
    cfg = write_config(tmp_path, dedent(f"""
        sources:
          - name: urdu
            feeds: ["{fresh_site.base}/urdu/feed.xml"]
        watches:
          - name: council
            query: 'پاکستان AND "کرپٹو کونسل"'
          - name: year
            query: '"سال 2025"'
          - name: priorities
            query: 'ترجیحات NEAR/3 حکومت'
          - name: elsewhere
            query: 'افغانستان'
        """))
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    found = {(r["watch"], r["url"].rstrip("/").rsplit("/", 1)[1]) for r in db_rows(
        cfg, "select m.watch, a.url from matches m join articles a on a.id = m.article_id")}
    assert found == {("council", "urdu-crypto-council"), ("year", "urdu-crypto-council"),
                     ("priorities", "urdu-crypto-council")}
    assert table_row(proc.stdout, "urdu")["new"] == "2"
