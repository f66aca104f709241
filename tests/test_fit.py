"""Tables that fit: at 80 and 120 columns (and piped without $COLUMNS) no source or watch
name is folded, every line but a URL's own fits the width, secondary columns are left
out (and said to be), and `--wide` brings them back."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest

from newswatch.cli import tables
from tests.conftest import run_cli, write_config
from tests.site.server import FixtureServer

NAMES = ["industry-herald-weekly", "titles-and-more", "desk-briefing-morning"]
LEFT_OUT = re.compile(r"\(left out at (\d+) columns: ([^;]+); --wide shows them\)")


def config(tmp_path: Path, site: FixtureServer) -> Path:
    return write_config(tmp_path, dedent(f"""
        timezone: Asia/Karachi
        sources:
          - name: industry-herald-weekly
            feeds: ["{site.base}/feed.xml"]
          - name: titles-and-more
            sitemaps: ["{site.base}/sitemap.xml"]
        watches:
          - name: titles-and-more
            query: '"crypto council" OR MoU OR ordinance'
          - name: desk-briefing-morning
            query: 'council OR ministry'
            digest: daily@08:00
        alerts:
          to: [desk@example.org]
          maildir: mail
        """))


def check_fits(output: str, width: int) -> list[str]:
    """Assert the output fits `width` with every name whole; the headings left out."""
    text = " ".join(output.split()).replace("\n", " ")
    for line in output.splitlines():
        assert len(line) <= width or line.startswith("http"), (width, line)
    tokens = set(re.split(r"[\s·:,()]+", output))
    for name in NAMES:
        broken = [t for t in tokens if len(t) >= 3 and t != name
                  and (name.startswith(t) or name.endswith(t)) and t not in NAMES
                  and t not in ("more", "weekly", "and-more")]
        assert not broken, (name, broken, output)
    found = LEFT_OUT.search(text)
    if found is None:
        return []
    assert int(found.group(1)) == width
    return found.group(2).split(", ")


def headings(output: str) -> str:
    """The table's heading lines (up to its rule), as one line of words."""
    lines = output.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("───"))
    return " ".join(" ".join(lines[max(0, rule - 3):rule]).split())


@pytest.fixture
def crawled(fresh_site: FixtureServer, tmp_path: Path) -> Path:
    cfg = config(tmp_path, fresh_site)
    assert run_cli("crawl", config=cfg).returncode == 0
    return cfg


@pytest.mark.parametrize("width", [80, 120])
def test_every_table_fits_and_keeps_names_whole(crawled: Path, width: int) -> None:
    env = {"COLUMNS": str(width)}
    for command in (["crawl"], ["status"], ["recent", "--since", "30d"], ["backtest"]):
        proc = run_cli(*command, config=crawled, env=env)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
        left_out = check_fits(out, width)
        # every source has a row in crawl and status; an article both sources list is
        # stored under whichever stored it first, so recent and backtest may name either
        if command[0] in ("crawl", "status"):
            assert "industry-herald-weekly" in out
        assert "titles-and-more" in out
        if command[0] == "recent":  # each match's URL whole, on its own line
            urls = [line for line in out.splitlines() if line.startswith("http")]
            assert urls and all(re.fullmatch(r"http://\S+/", u) for u in urls)
        wide = run_cli(*command, "--wide", config=crawled, env=env).stdout
        assert "left out" not in wide
        for heading in left_out:  # what was left out is back (a heading may take 2 lines)
            assert set(heading.split()) <= set(headings(wide).split()), (heading, wide)
        if width == 80 and command[0] in ("crawl", "status"):
            assert left_out, out  # these tables do not fit 80 columns whole


def test_piped_without_columns_every_column_shows(crawled: Path) -> None:
    proc = run_cli("status", config=crawled, env={"COLUMNS": ""})
    assert "left out" not in proc.stdout
    assert {"pages", "new", "no", "text", "errors", "bad", "runs", "articles"} <= set(
        headings(proc.stdout).split())


def test_a_table_lays_out_at_its_width() -> None:
    t = tables.table("workers", ["host", "pid", "state", "polls in\nflight", "started"],
                     numeric_from=3, drop=["started", "pid"])
    t.add_row("a-worker-host-with-a-long-name.example.org", "4242", "idle", "3",
              "2026-12-03 10:00")
    narrow = [line for line, _, _ in t.lines(60)]
    assert max(len(line) for line in narrow) <= 60
    assert narrow[4].startswith("a-worker-host-with-a-long-name.example.org  idle")
    assert narrow[5].startswith("(left out at 60 columns: pid, started; --wide shows them)")
    t.wide = True
    assert "4242" in "\n".join(line for line, _, _ in t.lines(60))
    # the URL line of a row is whole whatever the width; cells are plain text only
    t = tables.table("", ["article", "watch"], wrap=["article"])
    url = "http://127.0.0.1/news/2026/12/03/" + "a-long-slug-" * 8
    t.add_row("A [bold]headline[/bold] that wraps at word boundaries, never mid-word",
              "titles-and-more", url=url)
    lines = [line for line, _, _ in t.lines(50)]
    assert url in lines
    assert "[bold]headline[/bold]" in " ".join(lines)
    assert all(len(line) <= 50 for line in lines if line != url)
    with pytest.raises(TypeError):
        t.add_row(tables.Table("x", []), "w")  # type: ignore[arg-type]
