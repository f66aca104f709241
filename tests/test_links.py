"""Link parsers: feeds of every flavour, sitemaps, robots.txt, homepage feed links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spiders.links import (
    NotAFeed,
    feeds_from_html,
    parse_feed,
    parse_sitemap,
    sitemaps_from_robots,
)
from tests.site import pages

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
BASE = "https://daily-fixture.example"
ARTS = pages.load_articles(NOW)

RSS091 = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>t</title>
<link>https://e.com/</link><description>d</description>
<item><title>One</title><link>https://e.com/one</link></item></channel></rss>"""


@pytest.mark.parametrize("kind,body", [
    ("rss2", pages.rss_feed(ARTS, BASE)),
    ("atom", pages.atom_feed(ARTS, BASE)),
    ("rss1-rdf", pages.rdf_feed(ARTS, BASE)),
])
def test_feeds_give_links_titles_dates(kind: str, body: str) -> None:
    links = parse_feed(body.encode(), BASE + "/feed.xml")
    assert [lk.title for lk in links] == [a.title for a in ARTS]
    assert all(lk.url.startswith(BASE + "/news/") for lk in links)
    assert [lk.date for lk in links] == [a.published for a in ARTS]


def test_rss_091() -> None:
    (link,) = parse_feed(RSS091, "https://e.com/rss")
    assert link.url == "https://e.com/one" and link.title == "One" and link.date is None


def test_html_is_not_a_feed() -> None:
    with pytest.raises(NotAFeed):
        parse_feed(b"<html><body><p>hello</p></body></html>", "https://e.com/")


def test_news_sitemap_dates_and_titles() -> None:
    sm = parse_sitemap(pages.news_sitemap(ARTS, BASE).encode(), BASE + "/s.xml")
    assert sm.kind == "urlset"
    assert [(lk.url, lk.title, lk.date) for lk in sm.links] == [
        (BASE + a.path, a.title, a.published) for a in ARTS]


def test_sitemap_index() -> None:
    old = datetime(2019, 1, 1, tzinfo=UTC)
    sm = parse_sitemap(pages.sitemap_index(BASE, old).encode(), BASE + "/sitemap.xml")
    assert sm.kind == "sitemapindex"
    assert [lk.url for lk in sm.links] == [BASE + "/sitemap-news.xml", BASE + "/sitemap-2019.xml"]
    assert sm.links[1].date == old


def test_sitemap_entities_are_not_resolved() -> None:
    body = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://e.com/a&e;</loc></url></urlset>"""
    sm = parse_sitemap(body, "https://e.com/s.xml")
    assert [lk.url for lk in sm.links] == ["https://e.com/a"]  # read, the entity left out


def test_not_a_sitemap() -> None:
    with pytest.raises(ValueError):
        parse_sitemap(b"<html><body>hi</body></html>", "https://e.com/s.xml")


def test_robots_sitemaps() -> None:
    text = "User-agent: *\nDisallow: /x\nSitemap: https://e.com/a.xml\nsitemap: /b.xml\n"
    assert sitemaps_from_robots(text, "https://e.com/robots.txt") == [
        "https://e.com/a.xml", "https://e.com/b.xml"]


def test_feeds_from_homepage() -> None:
    html = pages.listing_page("Home", ARTS, BASE)
    assert feeds_from_html(html, BASE + "/") == [BASE + "/feed.xml"]
