"""Atom 1.0 feeds of matches (SPEC §12), one per watch and one for all watches: each
entry an article a watch matched, with its title, link, source, dates, matched terms
and one snippet. An entry's id is made of the watch's name and the article's canonical
URL only, so it stays the same across runs, rebuilds and machines: a feed reader never
shows an entry twice."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from newswatch.alerts.render import first_snippet, matched_terms, one_line, safe_url
from newswatch.store.recent import Recent

NS = "http://www.w3.org/2005/Atom"
ET.register_namespace("", NS)
SUMMARY_MAX = 500


def entry_id(watch: str, url: str) -> str:
    digest = hashlib.sha256(f"{watch}\n{url}".encode()).hexdigest()[:32]
    return f"urn:newswatch:match:{digest}"


def feed_id(watch: str | None) -> str:
    return f"urn:newswatch:feed:{watch or 'all'}"


def _stamp(when: datetime | None) -> str:
    when = when or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def build(matches: Sequence[Recent], watch: str | None, self_url: str | None = None,
          site_url: str | None = None) -> bytes:
    """The feed of `matches` (newest first) for one watch, or all (watch None)."""
    feed = ET.Element(f"{{{NS}}}feed")
    _add(feed, "id", feed_id(watch))
    _add(feed, "title", f"newswatch: {watch}" if watch else "newswatch: all watches")
    _add(feed, "updated", _stamp(matches[0].matched_at if matches else None))
    author = _add(feed, "author")
    _add(author, "name", "newswatch")
    _add(feed, "generator", "newswatch")
    if self_url:
        _add(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    if site_url:
        _add(feed, "link", rel="alternate", href=site_url, type="text/html")
    for m in matches:
        entry = _add(feed, "entry")
        _add(entry, "id", entry_id(m.watch, m.url))
        title = one_line(m.title, 300) or "(no title)"
        _add(entry, "title", title if watch else f"[{m.watch}] {title}")
        _add(entry, "updated", _stamp(m.matched_at))
        # Atom's published is a date-time: a bare date has none, so the entry leaves it
        # out (rather than invent a midnight) and its summary names the day instead
        if isinstance(m.published, datetime):
            _add(entry, "published", _stamp(m.published))
        link = safe_url(m.url)
        if link:
            _add(entry, "link", rel="alternate", href=link, type="text/html")
        who = _add(entry, "author")
        _add(who, "name", one_line(m.source) or "?")
        for term in matched_terms(m.hits):
            _add(entry, "category", term=one_line(term, 100), label="matched")
        _add(entry, "category", term=m.watch, label="watch")
        summary = first_snippet(m.snippets, SUMMARY_MAX)
        parts = [f"{one_line(m.source)}", f"matched: {', '.join(matched_terms(m.hits))}"]
        if m.published is not None and not isinstance(m.published, datetime):
            parts.insert(1, f"published {m.published.isoformat()}")
        _add(entry, "summary", " · ".join(p for p in [summary, *parts] if p), type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")
