"""Watches end to end: matches stored by a crawl of the fixture site, never twice, never
from page clutter; `newswatch match` and `newswatch backtest` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

from tests.conftest import db_rows, run_cli, table_row, write_config
from tests.site.pages import breaking
from tests.site.server import FixtureServer

WATCHES = """
    terms:
      mou: ["=MoU", "memorandum of understanding"]
      pakistan: [Pakistan, Pakistani, Islamabad]
    watches:
      - name: councils
        query: '"crypto council"'
      - name: mous
        query: '@mou AND (crypto* OR blockchain) AND @pakistan'
      - name: ordinance
        query: 'title:"virtual assets ordinance"'
      - name: sidebar-trap
        query: '"blockchain mou explained" OR "what the finance adviser really said"'
      - name: budget
        query: 'provincial budget'
"""


def watch_config(tmp_path: Path, site: FixtureServer, watches: str = WATCHES) -> Path:
    return write_config(tmp_path, dedent(f"""
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
        """) + dedent(watches))


def matches(cfg: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in db_rows(cfg, "select m.watch, a.url from matches m join articles a "
                          "on a.id = m.article_id"):
        out.setdefault(r["watch"], set()).add(r["url"].rstrip("/").rsplit("/", 1)[1])
    return out


def test_crawl_stores_each_match_with_hits_and_snippets(fresh_site: FixtureServer,
                                                        tmp_path: Path) -> None:
    cfg = watch_config(tmp_path, fresh_site)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    # the sidebar on every page says "Crypto council row" and "Blockchain MoU explained":
    # only the articles themselves count, and the 40-day-old budget story is too old
    assert matches(cfg) == {
        "councils": {"crypto-council-first-meeting"},
        "mous": {"blockchain-mou-signed"},
        "ordinance": {"virtual-assets-ordinance"},
    }
    summary = table_row(proc.stdout, "daily")
    # three matches, the old story counted as too old; no recipients, so no alerts
    assert (summary["matches"], summary["too old"], summary["alerts"]) == ("3", "1", "0")
    row = db_rows(cfg, "select * from matches where watch = 'mous'")[0]
    assert row["query"] == "@mou AND (crypto* OR blockchain) AND @pakistan"
    hits = {(h["term"], h["field"]) for h in json.loads(row["hits"])}
    assert {("@mou: =MoU", "text"), ("@mou: memorandum of understanding", "title"),
            ("blockchain", "title"), ("crypto*", "text"), ("@pakistan: Pakistan", "title")} <= hits
    snippets = json.loads(row["snippets"])
    assert 1 <= len(snippets) <= 2
    marked = {s["text"][a:b] for s in snippets for a, b in s["highlights"]}
    assert "MoU" in marked


def test_matches_are_stored_once_and_edits_do_not_rematch(fresh_site: FixtureServer,
                                                          tmp_path: Path) -> None:
    cfg = watch_config(tmp_path, fresh_site)
    assert run_cli("crawl", config=cfg).returncode == 0
    first = db_rows(cfg, "select id, watch, article_id from matches order by id")
    assert run_cli("crawl", config=cfg).returncode == 0
    assert db_rows(cfg, "select id, watch, article_id from matches order by id") == first

    # a widened watch and a new one: neither reaches back to the articles already stored
    edited = WATCHES.replace("'\"crypto council\"'", "'\"crypto council\" OR bowlers'") + \
        "      - name: dams\n        query: monsoon\n"
    cfg = watch_config(tmp_path, fresh_site, edited)
    assert run_cli("crawl", config=cfg).returncode == 0
    assert db_rows(cfg, "select id, watch, article_id from matches order by id") == first

    # ...but an article published after the edit is matched by both
    fresh_site.state.articles.append(breaking(
        "bowlers-and-monsoon", "Rain threatens the second test",
        "Monsoon clouds gathered over the ground as the bowlers warmed up on the outfield "
        "before the second test of the home series.",
        "Groundstaff kept the covers close by and the umpires said play would start late "
        "if the rain arrived before lunch.", section="sport"))
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    now = matches(cfg)
    assert "bowlers-and-monsoon" in now["councils"]
    assert now["dams"] == {"bowlers-and-monsoon"}


def test_match_explains_a_page(fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = watch_config(tmp_path, fresh_site)
    url = f"{fresh_site.base}/news/" + next(
        a.path.split("/news/")[1] for a in fresh_site.state.articles
        if a.slug == "crypto-council-first-meeting")
    proc = run_cli("match", url, config=cfg)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "title: National Crypto Council holds its first meeting in Islamabad" in out
    assert "✔ councils: MATCH" in out
    assert '"crypto council": title ×1 ("Crypto Council"); text ×' in out
    assert "**Crypto Council**" in out
    assert "✘ mous: no match" in out and "why not: @mou: none of its terms found" in out
    # nothing is stored by `match`
    assert db_rows(cfg, "select * from matches") == []


def test_match_a_saved_file_and_one_watch(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>x</title></head><body><article><h1>Mining rules"
                    "</h1>" + "<p>The new rules on bitcoin mining and electricity prices were "
                    "announced by the energy ministry on Friday afternoon.</p>" * 3 +
                    "</article></body></html>", encoding="utf-8")
    cfg = write_config(tmp_path, """
        watches:
          - name: mining
            query: 'bitcoin NEAR/1 mining'
          - name: far
            query: 'bitcoin NEAR/0 electricity'
        """)
    proc = run_cli("match", str(page), "--watch", "far", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert "✘ far: no match" in proc.stdout
    assert "not within 0 words" in proc.stdout
    assert "mining:" not in proc.stdout
    bad = run_cli("match", str(page), "--watch", "nope", config=cfg)
    assert bad.returncode == 2 and "unknown watch(es): nope" in bad.stderr


def test_backtest_lists_what_would_have_matched(fresh_site: FixtureServer,
                                                tmp_path: Path) -> None:
    cfg = watch_config(tmp_path, fresh_site, "")
    assert run_cli("crawl", config=cfg).returncode == 0
    proc = run_cli("backtest", "--query", "(bowlers OR dam*) -budget", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert "Young pace attack faces its sternest test" in proc.stdout
    assert "Dam levels rise after late monsoon rains" in proc.stdout
    assert "2 of 5 stored articles in the last 30d would have matched; nothing was sent." \
        in proc.stdout
    assert db_rows(cfg, "select * from matches") == []
    bad = run_cli("backtest", "--query", "bowlers AND", config=cfg)
    assert bad.returncode == 2
    assert "column 12" in bad.stderr and "^" in bad.stderr


def test_a_bad_query_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, """
        terms:
          mou: ["=MoU"]
        watches:
          - name: ok
            query: '@mou'
          - name: broken
            query: '"crypto council" OR'
          - name: unknown-set
            query: '@pakistan AND crypto'
        """)
    proc = run_cli("check", config=cfg)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert any(":15: watches[1].query: bad query: column 20: unexpected the end" in ln
               for ln in lines), proc.stderr
    assert any(":17: watches[2].query: bad query: column 1: unknown term set @pakistan" in ln
               for ln in lines), proc.stderr
