"""What a dry run would send: the emails rendered from matches held in memory, one per
recipient and digest, exactly as the outbox would compose them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid

from alerts.render import AlertItem, Renderer, matched_terms
from config.models import Config
from store.db import ArticleRecord
from store.matches import Route

Waiting = dict[tuple[str, str, datetime], int]


def preview(config: Config, found: Iterable[tuple[ArticleRecord, dict[str, Route]]],
            now: datetime, waiting: Waiting | None = None) -> list[EmailMessage]:
    """The emails a crawl would send now. A digest watch's matches are not among them,
    as a real crawl would queue them for the digest: they are counted in `waiting`, by
    (watch, digest, when it is due)."""
    batches: dict[tuple[str, str], list[AlertItem]] = {}
    for rec, routes in found:
        for m in rec.matches:
            route = routes.get(m.watch)
            if route is None:
                continue
            if route.digest != "immediate" and route.due > now:
                if waiting is not None:
                    key = (m.watch, route.digest, route.due)
                    waiting[key] = waiting.get(key, 0) + len(route.recipients)
                continue
            item = AlertItem(m.watch, m.query, rec.title or "", rec.url, rec.source,
                             rec.published, matched_terms(m.hits),
                             [dict(s) for s in m.snippets])
            for recipient in route.recipients:
                batches.setdefault((recipient, route.digest), []).append(item)
    renderer = Renderer(config.alerts.templates, config.timezone)
    return [renderer.message(sorted(items, key=lambda i: i.watch), sender=config.alerts.from_,
                             recipient=recipient, message_id=make_msgid("newswatch-dry-run"),
                             digest=digest, now=now)
            for (recipient, digest), items in sorted(batches.items())]
