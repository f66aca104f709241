"""Render: alert items -> one email per recipient and batch (jinja2 templates, a real
text/plain part first, then HTML), with every scraped string treated as untrusted."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from newswatch.config.times import Published, readable
from newswatch.rules.plaintext import clean

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_TITLE_MAX = 120
SUBJECT_MAX = 160
# The standard library's folding at 78 columns can split an encoded word with a space
# (measured: 758 of 4,000 realistic headlines with emoji, flags, dashes or Urdu came back
# with raw =?utf-8?q?...?= in the Subject). A Subject of at most SUBJECT_MAX characters
# encodes to under 998 bytes (the RFC 5322 limit; an all-emoji one to about 820), so
# headers are written unfolded; the bodies are quoted-printable lines of 76 anyway.
HEADERS = SMTP.clone(max_line_length=998)
# bidi embeddings/overrides/isolates and marks, line and paragraph separators
_INVISIBLE = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\u061c]")


@dataclass
class Outlet:
    source: str
    url: str | None


@dataclass
class AlertItem:
    """One (watch, article) match as the email shows it."""

    watch: str
    query: str
    title: str
    url: str | None
    source: str
    published: Published | None  # an instant, or only a day
    terms: list[str]
    snippets: list[dict[str, Any]]
    also: list[Outlet] = field(default_factory=list)


def one_line(text: str | None, limit: int | None = None) -> str:
    """Scraped text made safe for a header or a one-line label: control and format
    characters gone, whitespace collapsed, cut at `limit` characters."""
    # escape sequences go whole first: only their ESC would go below, the rest shown
    text = _INVISIBLE.sub("", clean(text or ""))
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are rendered; anything else (javascript:, data:) is dropped."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url):
        return None
    return url


def segments(snippet: dict[str, Any]) -> list[tuple[str, bool]]:
    """A snippet as (text, is_hit) pieces, so templates escape first and mark after."""
    text = one_line(snippet.get("text", ""))
    raw = str(snippet.get("text", ""))
    if text != raw:  # offsets refer to the raw text; if cleaning changed it, no marks
        return [(text, False)]
    out: list[tuple[str, bool]] = []
    pos = 0
    for a, b in snippet.get("highlights", []):
        if a < pos or b > len(raw):
            continue
        out += [(raw[pos:a], False), (raw[a:b], True)]
        pos = b
    out.append((raw[pos:], False))
    return [(t, hit) for t, hit in out if t]


def first_snippet(snippets: Sequence[dict[str, Any]], limit: int) -> str:
    """The first snippet as one line of plain text (for short messages and feeds)."""
    if not snippets:
        return ""
    return one_line("".join(text for text, _ in segments(snippets[0])), limit)


def matched_terms(hits: Sequence[dict[str, Any]]) -> list[str]:
    """The terms of a match's hit list, each once, in order."""
    return list(dict.fromkeys(str(h["term"]) for h in hits))


def subject_for(items: Sequence[AlertItem]) -> str:
    if len(items) == 1:
        item = items[0]
        return one_line(f"[newswatch] {item.watch}: "
                        f"{one_line(item.title, SUBJECT_TITLE_MAX) or '(no title)'}",
                        SUBJECT_MAX)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.watch] = counts.get(item.watch, 0) + 1
    parts = ", ".join(f"{w} ({n})" for w, n in counts.items())
    return one_line(f"[newswatch] {len(items)} new matches: {parts}", SUBJECT_MAX)


class Renderer:
    """The templates: alerts/templates/, overridden file by file by `alerts.templates`."""

    def __init__(self, override: str | None = None, timezone: str = "UTC"):
        paths = [str(p) for p in (override, PACKAGE_TEMPLATES) if p]
        self.env = Environment(
            loader=FileSystemLoader(paths), undefined=StrictUndefined,
            # escaping is forced on for HTML whatever an override template says
            autoescape=lambda name: bool(name and name.endswith(".html")),
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        )
        self.tz = ZoneInfo(timezone)

    def _context(self, items: Sequence[AlertItem], digest: str) -> dict[str, Any]:
        groups: dict[str, dict[str, Any]] = {}
        for item in items:
            group = groups.setdefault(item.watch, {"name": one_line(item.watch),
                                                   "query": one_line(item.query), "items": []})
            group["items"].append({
                "title": one_line(item.title, 300) or "(no title)",
                "url": safe_url(item.url),
                "source": one_line(item.source),
                "published": readable(item.published, self.tz, empty=""),
                "terms": [one_line(t) for t in item.terms],
                "snippets": [segments(s) for s in item.snippets],
                "also": [{"source": one_line(o.source), "url": safe_url(o.url)}
                         for o in item.also],
            })
        return {"groups": list(groups.values()), "count": len(items), "digest": digest}

    def health_message(self, source: str, state: str, reason: str,
                       runs: Sequence[dict[str, Any]], *, sender: str, recipient: str,
                       message_id: str, now: datetime) -> EmailMessage:
        """The ops email for a source that started failing or recovered."""
        verb = "is failing" if state == "failing" else "has recovered"
        context = {"source": one_line(source), "state": state, "verb": verb,
                   "reason": one_line(reason), "runs": [
                       {"started": readable(r["started"], self.tz),
                        "status": r["status"], "pages": r.get("pages") or 0,
                        "new": r.get("new_articles") or 0, "no_text": r.get("no_text") or 0,
                        "errors": r.get("errors") or 0,
                        "message": one_line(r.get("message"), 200)} for r in runs]}
        subject = one_line(f"[newswatch] source {source} {verb}: {reason}", 150)
        return self._build(subject, "health", context, sender=sender, recipient=recipient,
                           message_id=message_id, now=now)

    def _build(self, subject: str, template: str, context: dict[str, Any], *, sender: str,
               recipient: str, message_id: str, now: datetime) -> EmailMessage:
        msg = EmailMessage(policy=SMTP)
        msg["From"] = sender
        msg["To"] = recipient
        msg["Subject"] = subject
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = message_id
        msg["Auto-Submitted"] = "auto-generated"
        text = self.env.get_template(f"{template}.txt").render(context)
        html = self.env.get_template(f"{template}.html").render(context)
        msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        msg.policy = HEADERS
        return msg

    def message(self, items: Sequence[AlertItem], *, sender: str, recipient: str,
                message_id: str, digest: str, now: datetime) -> EmailMessage:
        context = self._context(items, digest)
        names = ", ".join(g["name"] for g in context["groups"])
        # how to stop them: a word to whoever runs newswatch (the From address), who
        # mutes or edits the watch (`enabled: false`); mail clients offer the header as
        # an unsubscribe button
        operator = parseaddr(sender)[1]
        context["operator"] = operator
        msg = self._build(subject_for(items), "alert", context, sender=sender,
                          recipient=recipient, message_id=message_id, now=now)
        msg["X-Newswatch-Watches"] = names
        if operator:
            subject = quote(f"unsubscribe {recipient} from {names}")
            msg["List-Unsubscribe"] = f"<mailto:{operator}?subject={subject}>"
        return msg
