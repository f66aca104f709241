"""Parsers that turn a feed, a sitemap, robots.txt or a homepage into article links.
Pure functions on bytes, so they are tested without a crawl."""

from __future__ import annotations

import calendar
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.etree
import lxml.html

log = logging.getLogger(__name__)

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/feed+json", "application/xml", "text/xml")


@dataclass(frozen=True)
class Link:
    url: str
    title: str | None = None
    date: datetime | None = None


class NotAFeed(ValueError):
    """The document is neither RSS nor Atom."""


def parse_date(text: str | None) -> datetime | None:
    """ISO 8601 as found in sitemaps (date, or date and time, with or without zone)."""
    if not text:
        return None
    text = text.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            dt = datetime.fromisoformat(text[:10])
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _struct_to_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def parse_feed(body: bytes, base_url: str) -> list[Link]:
    """Entries of an RSS 0.9x/1.0/2.0 or Atom feed, with their titles and dates."""
    parsed = feedparser.parse(BytesIO(body), response_headers={"content-location": base_url})
    if not parsed.get("version") and not parsed.entries:
        raise NotAFeed(str(parsed.get("bozo_exception") or "no feed found"))
    links: list[Link] = []
    for entry in parsed.entries:
        href = entry.get("link")
        if not href:
            for alt in entry.get("links", []):
                if alt.get("rel", "alternate") == "alternate" and alt.get("href"):
                    href = alt["href"]
                    break
        if not href:
            continue
        date = _struct_to_dt(entry.get("published_parsed") or entry.get("updated_parsed"))
        links.append(Link(urljoin(base_url, href.strip()), entry.get("title"), date))
    return links


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


@dataclass
class Sitemap:
    kind: str  # "urlset" or "sitemapindex"
    links: list[Link]


def parse_sitemap(body: bytes, base_url: str) -> Sitemap:
    """A sitemap or sitemap index, including Google News sitemaps' publication dates
    and titles. Entities are never resolved."""
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
                continue
            if name not in ("url", "sitemap"):
                continue
            fields: dict[str, str] = {}
            for child in elem.iter():
                cname = _local(child.tag)
                if cname in ("loc", "lastmod", "publication_date", "title") and child.text:
                    fields.setdefault(cname, child.text.strip())
            elem.clear()
            if fields.get("loc"):
                date = parse_date(fields.get("publication_date") or fields.get("lastmod"))
                links.append(Link(urljoin(base_url, fields["loc"]), fields.get("title"), date))
    except lxml.etree.XMLSyntaxError as exc:
        if not kind:
            raise ValueError(f"not a sitemap: {exc}") from exc
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap (root element {kind or 'missing'!r})")
    return Sitemap(kind, links)


def sitemaps_from_robots(text: str, base_url: str) -> list[str]:
    out = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip():
            out.append(urljoin(base_url, value.strip()))
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


def iter_unique(links: list[Link]) -> Iterator[Link]:
    seen: set[str] = set()
    for link in links:
        if link.url not in seen:
            seen.add(link.url)
            yield link
