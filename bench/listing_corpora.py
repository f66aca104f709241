"""Other projects' test listings through newswatch's parsers (not part of `make test`).

    python bench/listing_corpora.py FEEDPARSER_REPO USP_REPO

FEEDPARSER_REPO: a clone of feedparser; its tests/**/*.xml feeds go through
spiders.links.parse_feed and through feedparser itself (entry links resolved against the
same URL), and the links are compared. USP_REPO: a clone of ultimate-sitemap-parser; the
sitemap, robots.txt and feed bodies written inside its tests/tree/*.py go through
spiders.links.parse_sitemap (and sitemaps_from_robots) and through usp's
sitemap_from_str (`pip install ultimate-sitemap-parser`), and the URLs are compared.
Either path may be a work tree or a bare git directory (its HEAD is read). Prints the
counts and the files that differ."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newswatch.spiders.links import NotAFeed, parse_feed, parse_sitemap, sitemaps_from_robots  # noqa: E402

BASE = "http://example.org/feed.xml"


def files(repo: Path, prefix: str, suffix: str) -> Iterator[tuple[str, bytes]]:
    if (repo / prefix).is_dir():
        for path in sorted((repo / prefix).rglob(f"*{suffix}")):
            yield str(path.relative_to(repo)), path.read_bytes()
        return
    names = subprocess.run(["git", f"--git-dir={repo}", "ls-tree", "-r", "--name-only", "HEAD",
                            prefix], capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if name.endswith(suffix):
            yield name, subprocess.run(["git", f"--git-dir={repo}", "show", f"HEAD:{name}"],
                                       capture_output=True, check=True).stdout


def feedparser_corpus(repo: Path) -> None:
    import feedparser

    same = differ = refused = empty = 0
    diffs: list[str] = []
    for name, body in files(repo, "tests", ".xml"):
        theirs = []
        for entry in feedparser.parse(BytesIO(body),
                                      response_headers={"content-location": BASE}).entries:
            href = entry.get("feedburner_origlink") or entry.get("link")
            if href:
                theirs.append(href)
        try:
            ours = [lk.url for lk in parse_feed(body, BASE) if lk.url]
        except NotAFeed:
            ours = None
        if ours is None:
            refused += 1
            if theirs:
                diffs.append(f"{name}: refused, feedparser found {theirs[:2]}")
            continue
        if not theirs and not ours:
            empty += 1
        elif [u.strip() for u in theirs] == ours or [
                _resolved(u) for u in theirs] == ours:
            same += 1
        else:
            differ += 1
            diffs.append(f"{name}: ours {ours[:2]} / feedparser {theirs[:2]}")
    print(f"feedparser's test feeds: {same} with the same links, {empty} with no links in "
          f"either, {differ} different, {refused} refused as not a feed")
    for line in diffs[:15]:
        print("  " + line)


def _resolved(href: str) -> str:
    from urllib.parse import urljoin

    try:
        return urljoin(BASE, href.strip())
    except ValueError:
        return href.strip()


def _strings(source: str) -> Iterator[str]:
    """String literals in a test module, f-strings with their fields filled in."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.JoinedStr):
            yield "".join(v.value if isinstance(v, ast.Constant) else "https://example.org"
                          for v in node.values)


def usp_corpus(repo: Path) -> None:
    from usp.tree import sitemap_from_str

    same = differ = unexpanded = 0
    diffs: list[str] = []
    markers = ("<urlset", "<sitemapindex", "<rss", "<feed", "Sitemap:")
    for name, body in files(repo, "tests/tree", ".py"):
        for text in _strings(body.decode("utf-8")):
            if not any(m in text for m in markers):
                continue
            text = text.strip()
            theirs_map = sitemap_from_str(text)
            theirs = sorted({p.url for p in theirs_map.all_pages()} |
                            {s.url for s in getattr(theirs_map, "sub_sitemaps", [])})
            if text.startswith(("User-agent", "Sitemap:")) or "\nSitemap:" in text:
                ours = sorted(set(sitemaps_from_robots(text, "https://example.org/robots.txt")))
            else:
                try:
                    ours = sorted({lk.url for lk in parse_sitemap(
                        text.encode("utf-8"), "https://example.org/sitemap.xml").links})
                except ValueError as exc:
                    ours = [f"refused: {exc}"]
            if ours == theirs:
                same += 1
            elif not theirs and ("<sitemapindex" in text or "Sitemap:" in text):
                # sitemap_from_str leaves an index's children and robots.txt unread
                unexpanded += 1
            else:
                differ += 1
                diffs.append(f"{name}: ours {ours[:3]} / usp {theirs[:3]}\n    "
                             f"{text[:160]!r}")
    print(f"ultimate-sitemap-parser's test bodies: {same} with the same URLs, "
          f"{unexpanded} indexes or robots.txt that usp's sitemap_from_str leaves unread "
          f"(ours lists their sitemaps), {differ} different")
    for line in diffs[:40]:
        print("  " + line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("feedparser_repo", type=Path)
    parser.add_argument("usp_repo", type=Path)
    args = parser.parse_args()
    feedparser_corpus(args.feedparser_repo)
    usp_corpus(args.usp_repo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
