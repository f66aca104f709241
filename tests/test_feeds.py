"""Atom feeds of matches and `newswatch recent` (SPEC §12), after real crawls of the
fixture site: the feeds parse as Atom 1.0 with feedparser, carry each match with its
link, source, terms and snippet, and keep their entry ids from run to run."""

from __future__ import annotations

from pathlib import Path

import feedparser

from tests.conftest import run_cli
from tests.site.pages import breaking
from tests.site.server import FixtureServer
from tests.test_alerts import maildir_config


def config(tmp_path: Path, site: FixtureServer) -> Path:
    return maildir_config(tmp_path, site)


def feed(cfg: Path, *args: str) -> feedparser.FeedParserDict:
    out = cfg.parent / "out.atom"
    proc = run_cli("feed", *args, "-o", str(out), config=cfg)
    assert proc.returncode == 0, proc.stderr
    parsed = feedparser.parse(out.read_bytes())
    assert parsed.version == "atom10" and not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_feeds_per_watch_and_for_all_keep_their_ids(fresh_site: FixtureServer,
                                                     tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site)
    assert run_cli("crawl", config=cfg).returncode == 0
    everything = feed(cfg)
    councils = feed(cfg, "councils")
    # councils 1, pakistan-crypto 2, mous 1
    assert len(everything.entries) == 4 and len(councils.entries) == 1
    entry = councils.entries[0]
    council = next(a for a in fresh_site.state.articles
                   if a.slug == "crypto-council-first-meeting")
    assert entry.link == fresh_site.base + council.path
    assert entry.title == council.title
    assert entry.author == "daily"
    assert {t.term for t in entry.tags} >= {'"crypto council"', "councils"}
    assert "crypto council" in entry.summary.lower()
    assert entry.published_parsed is not None and entry.updated_parsed is not None
    assert {e.title for e in everything.entries} >= {f"[councils] {council.title}"}
    first_ids = {e.id for e in everything.entries}
    assert len(first_ids) == 4  # one per (watch, article)
    # a later run: the new match comes first, the earlier entries keep their ids
    fresh_site.state.articles.append(breaking(
        "crypto-council-budget", "Crypto council asks for a budget",
        "The crypto council asked the finance ministry for a budget of its own so that "
        "its secretariat can hire staff before the next session.",
        "The ministry said it would reply within a month."))
    assert run_cli("crawl", config=cfg).returncode == 0
    again = feed(cfg)
    assert len(again.entries) == 5
    assert again.entries[0].title == "[councils] Crypto council asks for a budget"
    assert {e.id for e in again.entries} > first_ids
    assert feed(cfg, "councils").entries[1].id == entry.id


def test_recent_lists_the_matches_and_their_alerts(fresh_site: FixtureServer,
                                                   tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site)
    assert run_cli("crawl", config=cfg).returncode == 0
    proc = run_cli("recent", "--watch", "councils", config=cfg, env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert "Crypto Council" in proc.stdout or "crypto council" in proc.stdout.lower()
    assert "desk@example.org: sent" in proc.stdout
    assert "pakistan-crypto" not in proc.stdout
    unknown = run_cli("recent", "--watch", "nope", config=cfg)
    assert unknown.returncode == 2 and "no watch 'nope'" in unknown.stderr
    nothing = run_cli("feed", "nope", config=cfg)
    assert nothing.returncode == 2
