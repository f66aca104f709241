"""A page's publication time with its precision. htmldate (through trafilatura) finds
the date, but its answer cannot say whether the page gave a time: a bare date and a
zoneless time both come back without an offset, and when a page has a date-only
`article:published_time` beside a `<time datetime>` holding the full timestamp it
returns the bare date. So the page's own machine-readable timestamps are read here too,
and one of them is taken only when it falls on the day htmldate settled on (a `<time>`
of a related story or a comment is on another day, or names no time)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from lxml.html import HtmlElement

from newswatch.config.times import Published, parse_iso

log = logging.getLogger(__name__)

# meta names and properties that carry the original publication time
META_KEYS = frozenset({
    "article:published_time", "og:article:published_time", "og:published_time",
    "datepublished", "date", "pubdate", "publishdate", "publish-date", "dc.date.issued",
    "dcterms.issued", "sailthru.date", "parsely-pub-date",
})
JSON_LD_MAX = 200_000  # characters: a larger script is not metadata worth parsing


def _json_ld(tree: HtmlElement) -> Iterator[str]:
    """datePublished values anywhere in the page's JSON-LD (a @graph, a list, nested)."""
    for script in tree.iterfind(".//script[@type]"):
        if script.get("type", "").strip().lower() != "application/ld+json":
            continue
        raw = script.text or ""
        if len(raw) > JSON_LD_MAX:
            continue
        try:
            data: Any = json.loads(raw)
        except ValueError:
            continue
        todo = [data]
        while todo:
            node = todo.pop()
            if isinstance(node, dict):
                value = node.get("datePublished")
                if isinstance(value, str):
                    yield value
                todo.extend(v for v in node.values() if isinstance(v, dict | list))
            elif isinstance(node, list):
                todo.extend(node)


def stamps(tree: HtmlElement) -> Iterator[str]:
    """The page's machine-readable publication timestamps, metadata first."""
    for meta in tree.iterfind(".//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "")
        if key.strip().lower() in META_KEYS:
            yield meta.get("content", "")
    yield from _json_ld(tree)
    for elem in tree.iterfind(".//*[@itemprop]"):
        if elem.get("itemprop", "").strip() == "datePublished" and elem.get("datetime"):
            yield elem.get("datetime", "")
    for elem in tree.iterfind(".//time[@datetime]"):
        yield elem.get("datetime", "")


def page_published(tree: HtmlElement | None, found: str | None) -> Published | None:
    """The page's publication: a full timestamp (with its offset) when the page gives
    one, else the date htmldate found (`found`, its `%Y-%m-%dT%H:%M:%S%z` string), else
    None. A time without an offset names no instant and counts as its date."""
    value = parse_iso(found, naive_zone=None)
    if value is None or isinstance(value, datetime):
        return value
    day: date = value
    if tree is not None:
        for text in stamps(tree):
            stamp = parse_iso(text, naive_zone=None)
            # the day as the page itself writes it (its own offset)
            if isinstance(stamp, datetime) and stamp.date() == day:
                return stamp
    return day
