"""Parsers that turn a feed, a sitemap, robots.txt or a homepage into article links.
Pure functions on bytes, so they are tested without a crawl."""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.etree
import lxml.html

from newswatch.config.times import Published, parse_iso, precise
from newswatch.rules.plaintext import clean_optional

log = logging.getLogger(__name__)

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/feed+json", "application/xml", "text/xml")


@dataclass(frozen=True)
class Link:
    url: str
    title: str | None = None
    date: Published | None = None  # an instant, or only a day (config.times)

    def __post_init__(self) -> None:
        # a feed's or a listing's headline can be stored as the article's title
        object.__setattr__(self, "title", clean_optional(self.title))


class NotAFeed(ValueError):
    """The document is neither RSS nor Atom."""


def parse_date(text: str | None) -> Published | None:
    """ISO 8601 as found in sitemaps: a bare date stays a date; a time without a zone
    is UTC (the W3C format sitemaps use requires one)."""
    return parse_iso(text)


def _struct_to_dt(value: Any) -> Published | None:
    """feedparser's UTC time tuple; a feed entry at exactly midnight UTC is a day whose
    time its publisher did not know."""
    if not value:
        return None
    try:
        return precise(datetime.fromtimestamp(calendar.timegm(value), tz=UTC))
    except (OverflowError, ValueError, TypeError):
        return None


def parse_feed(body: bytes, base_url: str, content_type: str | None = None) -> list[Link]:
    """Entries of an RSS 0.9x/1.0/2.0 or Atom feed, with their titles and dates. The
    response's Content-Type goes to feedparser: a charset named only there (or a UTF-8
    feed without an XML declaration) is read right. FeedBurner's feedburner:origLink is
    the article itself, not its feedproxy redirect."""
    headers = {"content-location": base_url}
    if content_type:
        headers["content-type"] = content_type
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") and "charset" not in (content_type or ""):
        # UTF-16 with a byte-order mark and no declaration anywhere: feedparser gives up
        body = body.decode("utf-16", "replace").encode("utf-8")
        headers["content-type"] = "application/xml; charset=utf-8"
    parsed = feedparser.parse(BytesIO(body), response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        raise NotAFeed(str(parsed.get("bozo_exception") or "no feed found"))
    links: list[Link] = []
    for entry in parsed.entries:
        href = entry.get("feedburner_origlink") or entry.get("link")
        if not href:
            for alt in entry.get("links", []):
                if alt.get("rel", "alternate") == "alternate" and alt.get("href"):
                    href = alt["href"]
                    break
        if not href:
            if "link" in entry:  # it had one, which feedparser could not make a URL of
                links.append(Link("", entry.get("title")))
            continue
        date = _struct_to_dt(entry.get("published_parsed") or entry.get("updated_parsed"))
        try:
            url = urljoin(base_url, href.strip())
        except ValueError:  # a malformed link: counted and skipped by the spider
            url = href.strip()
        links.append(Link(url, entry.get("title"), date))
    return links


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


@dataclass
class Sitemap:
    kind: str  # "urlset" or "sitemapindex"
    links: list[Link]


def _join(base_url: str, href: str) -> str:
    try:
        return urljoin(base_url, href.strip())
    except ValueError:  # a malformed link: counted and skipped by the spider
        return href.strip()


def _url_entry(elem: Any, base_url: str) -> Link | None:
    """A `<url>` or `<sitemap>`: only its own loc and lastmod, and the news extension's
    title and publication date, describe the page (an image's or a video's loc, title
    or date belongs to the image or the video)."""
    fields: dict[str, str] = {}
    for child in elem:
        name = _local(child.tag)
        if name in ("loc", "lastmod") and child.text:
            fields.setdefault(name, child.text.strip())
        elif name == "news":
            for item in child.iter():
                iname = _local(item.tag)
                if iname in ("publication_date", "title") and item.text:
                    fields.setdefault(iname, item.text.strip())
    if not fields.get("loc"):
        return None
    date = parse_date(fields.get("publication_date") or fields.get("lastmod"))
    return Link(_join(base_url, fields["loc"]), fields.get("title"), date)


def _plain_text(body: bytes, base_url: str) -> Sitemap | None:
    """A text sitemap: one URL a line (sitemaps.org allows it)."""
    text = body.decode("utf-8", "replace").lstrip("\ufeff")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not all(line.lower().startswith(("http://", "https://")) for line in lines):
        return None
    return Sitemap("urlset", [Link(_join(base_url, line)) for line in lines])


def parse_sitemap(body: bytes, base_url: str, content_type: str | None = None) -> Sitemap:
    """A sitemap or sitemap index (Google News sitemaps' publication dates and titles
    included), a plain-text sitemap, or an RSS or Atom feed used as a sitemap. Entities
    are never resolved."""
    if body.lstrip()[:1] != b"<":
        found = _plain_text(body, base_url)
        if found is not None:
            return found
    parser_iter = lxml.etree.iterparse(
        BytesIO(body), events=("start", "end"), recover=True, resolve_entities=False,
        remove_comments=True, remove_pis=True, huge_tree=False, no_network=True,
    )
    kind = ""
    links: list[Link] = []
    try:
        for event, elem in parser_iter:
            name = _local(elem.tag)
            if event == "start":
                if not kind:
                    kind = name
                    if kind in ("rss", "feed", "RDF"):
                        break
                continue
            if name not in ("url", "sitemap") or elem.getparent() is None or \
                    _local(elem.getparent().tag) not in ("urlset", "sitemapindex"):
                continue
            link = _url_entry(elem, base_url)
            elem.clear()
            if link is not None:
                links.append(link)
    except lxml.etree.XMLSyntaxError as exc:
        if not kind:
            raise ValueError(f"not a sitemap: {exc}") from exc
    if kind in ("rss", "feed", "RDF"):  # a feed serving as a sitemap
        try:
            return Sitemap("urlset", parse_feed(body, base_url, content_type))
        except NotAFeed as exc:
            raise ValueError(f"not a sitemap nor a feed: {exc}") from exc
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap (root element {kind or 'missing'!r})")
    return Sitemap(kind, links)


def sitemaps_from_robots(text: str, base_url: str) -> list[str]:
    out = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        # `Site-map:` is a spelling robots.txt files use, and Google reads
        if key.strip().lower() in ("sitemap", "site-map") and value.strip():
            url = _join(base_url, value.split("#", 1)[0])
            if url and url not in out:
                out.append(url)
    return out


def feeds_from_html(body: bytes | str, base_url: str) -> list[str]:
    """`<link rel="alternate" type="application/rss+xml" href=...>` of a homepage."""
    try:
        doc = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError):
        return []
    out: list[str] = []
    for el in doc.iterfind(".//link"):
        rel = (el.get("rel") or "").lower().split()
        kind = (el.get("type") or "").lower()
        href = el.get("href")
        if "alternate" in rel and href and kind in FEED_TYPES[:3]:
            url = urljoin(base_url, href.strip())
            if url not in out:
                out.append(url)
    return out
