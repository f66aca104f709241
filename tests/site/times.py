"""Articles whose publication time is known in different ways (the page's full
timestamp, the feed's time only, a bare date on the page with and without a feed time,
a page and a feed that disagree), served under /times/ with their own RSS feed, so that
the tests counting the main site's articles are not touched. Times are fixed relative to
a day two days before the site started, so max_age never drops them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from email.utils import format_datetime
from html import escape

from newswatch.config.times import Published

PKT_OFFSET = timezone(timedelta(hours=5))
# fixed when the site starts: a test running across midnight sees the same articles
STARTED = datetime.now(UTC).date()


@dataclass(frozen=True)
class Timed:
    slug: str
    title: str
    text: str
    page: str | None  # what the page states, ISO 8601 ("YYYY-MM-DD" for a bare date)
    feed: datetime | None  # the feed entry's pubDate
    expected: Published  # the publication newswatch should settle on

    @property
    def path(self) -> str:
        return f"/times/{self.slug}/"


def articles(today: date | None = None) -> list[Timed]:
    day = (today or STARTED) - timedelta(days=2)

    def at(h: int, m: int, tz: timezone = UTC, days: int = 0) -> datetime:
        return datetime.combine(day + timedelta(days=days), time(h, m), tz)

    return [
        Timed("page-time", "Harbour lighthouse lamp relit after repairs",
              "The old harbour lighthouse shone again this evening after volunteers "
              "replaced its cracked lens and rewired the lamp room. Fishing crews said "
              "they had missed its beam during the foggy weeks of repairs.",
              at(15, 34, PKT_OFFSET).isoformat(), None, at(15, 34, PKT_OFFSET)),
        Timed("feed-time", "Harbour ferry adds a late crossing",
              "The harbour ferry company will run a late crossing on weekdays, so that "
              "night shift workers at the fish market no longer wait for the first "
              "morning boat. Tickets cost the same as in the daytime.",
              None, at(21, 50), at(21, 50)),
        Timed("date-with-feed-time", "Harbour master names new pilot boats",
              "The harbour master named the two new pilot boats after retired "
              "boatmen who guided cargo ships through the narrow channel for decades. "
              "Both boats will enter service before the winter storms.",
              day.isoformat(), at(10, 34), at(10, 34)),
        Timed("date-only", "Harbour school teaches knots and tides",
              "Children at the harbour school now spend one afternoon a week learning "
              "knots, reading tide tables and mending nets with retired sailors, who "
              "volunteer as teachers for the whole term.",
              day.isoformat(), None, day),
        Timed("page-and-feed-differ", "Harbour cranes idle during strike",
              "The harbour cranes stood idle as dock workers walked out over unpaid "
              "overtime. Shipping agents warned that container vessels would queue "
              "outside the breakwater if the strike lasted past the weekend.",
              at(9, 15, PKT_OFFSET).isoformat(), at(18, 0), at(9, 15, PKT_OFFSET)),
        Timed("date-feed-other-day", "Harbour museum reopens its boat hall",
              "The harbour museum reopened its boat hall, where a restored trading "
              "dhow now stands beside models of steamers that once called at the port. "
              "Entry stays free for pupils of the city's schools.",
              day.isoformat(), at(20, 0, days=1), day),
    ]


def page(art: Timed) -> str:
    """An article page: a full timestamp as `article:published_time` metadata, a bare
    date as a visible dateline with a `<time>` of that date; no date at all if None."""
    meta = dateline = ""
    if art.page and len(art.page) > 10:
        meta = f'<meta property="article:published_time" content="{art.page}">'
    elif art.page:
        shown = date.fromisoformat(art.page).strftime("%d %B %Y")
        dateline = f'<p class="dateline"><time datetime="{art.page}">{shown}</time></p>'
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{escape(art.title)}</title>{meta}</head><body><article>"
            f"<h1>{escape(art.title)}</h1>{dateline}<p>{escape(art.text)}</p>"
            f"</article></body></html>")


def feed(arts: list[Timed], base: str) -> str:
    items = "".join(
        f"<item><title>{escape(a.title)}</title><link>{base}{a.path}</link>"
        f"<guid isPermaLink='false'>{a.slug}</guid>"
        + (f"<pubDate>{format_datetime(a.feed)}</pubDate>" if a.feed else "")
        + "</item>" for a in arts)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Harbour times</title><link>{base}/times/</link>{items}</channel></rss>")


def answer(path: str, base: str) -> tuple[str, str] | None:
    """The body and content type of a /times/ path, or None (404)."""
    arts = articles()
    if path == "/times/feed.xml":
        return feed(arts, base), "application/rss+xml"
    found = next((a for a in arts if a.path == path), None)
    return (page(found), "text/html; charset=utf-8") if found is not None else None
