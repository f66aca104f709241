"""No link, however malformed, makes link handling raise: it is counted and skipped,
and never costs the other links of its feed, sitemap or page."""

from __future__ import annotations

import time
from functools import cache

from hypothesis import example, given, settings
from hypothesis import strategies as st
from scrapy.utils.test import get_crawler

from newswatch.config.models import CrawlOptions, Source
from newswatch.spiders.kinds import EngineSpider
from newswatch.spiders.links import Link, parse_feed, parse_sitemap, sitemaps_from_robots
from newswatch.spiders.poll import Poll, PollOrder

GOOD = "https://daily.example/news/a-good-story/"

hosts = st.one_of(st.just("daily.example"), st.text(max_size=30),
                  st.sampled_from(["[::1", "[::1]", "127.0.0.1", "xn--", "a..b", "-", "%zz"]))
ports = st.one_of(st.just(""), st.sampled_from([":99999", ":abc", ":-1", ":", ":0", ":65536"]),
                  st.integers(-10, 100_000).map(lambda n: f":{n}"))
paths = st.one_of(st.text(max_size=40), st.just("/" + "a" * 3000))
urls = st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
                 st.sampled_from(["http", "https"]), hosts, ports, paths) | st.text(max_size=60)


@cache
def spider() -> EngineSpider:
    """One spider for every example: building a Scrapy crawler costs a tenth of a second
    (most of the test's time when each example built its own), and a spider keeps no
    state of a poll's links (a poll does: each example gets its own)."""
    return EngineSpider.from_crawler(get_crawler(EngineSpider))


def poll() -> Poll:
    source = Source(name="daily", feeds=["https://daily.example/feed.xml"])
    return Poll(PollOrder("daily"), source, CrawlOptions(max_age=None),
                deadline=time.monotonic() + 60)


@given(bad=st.lists(urls, max_size=5))
@settings(max_examples=300, deadline=None)
@example(bad=["http://daily.example:99999/x", "http://daily.example:abc/x",
              "http://daily.example:-1/x", "http://[::1/x", "https://daily.example/" + "a" * 3000])
# found by hypothesis on 2026-11-30: a port out of range after an escaped userinfo
@example(bad=["http://daily.example", "http://daily.example:99999\\@"])
def test_no_link_makes_link_handling_raise(bad: list[str]) -> None:
    p = poll()
    links = [Link(u) for u in bad] + [Link(GOOD)]
    out = list(spider().article_requests(p, links))
    assert GOOD in [r.url for r in out]  # the good link always gets through
    assert p.counts["links"] + p.counts["bad_links"] <= len(links)


@given(href=urls)
@settings(max_examples=200, deadline=None)
def test_listing_parsers_never_raise_on_a_link(href: str) -> None:
    escaped = href.replace("&", "&amp;").replace("<", "&lt;")
    feed = (f'<rss version="2.0"><channel><title>t</title><item><title>x</title>'
            f"<link>{escaped}</link></item></channel></rss>").encode("utf-8", "replace")
    parse_feed(feed, "https://daily.example/feed.xml")
    sitemap = (f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>'
               f"{escaped}</loc></url></urlset>").encode("utf-8", "replace")
    parse_sitemap(sitemap, "https://daily.example/sitemap.xml")
    sitemaps_from_robots(f"Sitemap: {href}\n", "https://daily.example/robots.txt")
