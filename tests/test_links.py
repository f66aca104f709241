"""Link parsers: feeds of every flavour, sitemaps, robots.txt, homepage feed links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newswatch.spiders.links import (
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
    # a lastmod at exactly midnight is a day whose time the publisher did not know
    assert sm.links[1].date == old.date()


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


FEED_TEXT = ('<rss version="2.0"><channel><title>t</title><item><title>Caf\u00e9 \u0627\u0644'
             '\u0639\u0645\u0644\u0627\u062a</title><link>https://e.com/caf\u00e9</link>'
             '</item></channel></rss>')  # no XML declaration: the header or a BOM tells


@pytest.mark.parametrize("body,content_type", [
    (FEED_TEXT.encode("utf-8"), "application/rss+xml; charset=utf-8"),
    (FEED_TEXT.encode("cp1256"), "application/rss+xml; charset=windows-1256"),
    (FEED_TEXT.encode("utf-16-le"), "text/xml; charset=utf-16le"),
    (FEED_TEXT.encode("utf-16"), None),  # a byte-order mark, nothing else
])
def test_a_feeds_charset_from_its_header_or_its_bom(body: bytes, content_type: str | None
                                                    ) -> None:
    (link,) = parse_feed(body, "https://e.com/feed", content_type)
    assert link.url == "https://e.com/caf\u00e9"
    assert link.title == "Caf\u00e9 \u0627\u0644\u0639\u0645\u0644\u0627\u062a"


def test_feedburner_orig_link_and_site_map_spelling() -> None:
    body = (b'<rss version="2.0" xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">'
            b"<channel><title>t</title><item><title>One</title>"
            b"<link>http://feedproxy.example/~r/e/~3/abc/one</link>"
            b"<feedburner:origLink>https://www.e.com/2026/one/</feedburner:origLink>"
            b"</item></channel></rss>")
    assert [lk.url for lk in parse_feed(body, "https://feeds.e.com/e")] == [
        "https://www.e.com/2026/one/"]
    assert sitemaps_from_robots("User-agent: *\nSite-map: /a.xml\nSitemap: /b.xml # news\n",
                                "https://e.com/robots.txt") == [
        "https://e.com/a.xml", "https://e.com/b.xml"]
