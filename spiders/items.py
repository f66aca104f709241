"""What the spiders hand to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from newswatch.config.times import Published


@dataclass
class ArticlePage:
    """A fetched article page, not yet cleaned. The body stays bytes so that charset
    detection and parsing happen in the extraction workers, off the reactor thread."""

    source: str
    url: str
    request_url: str
    body: bytes
    header_charset: str | None = None
    feed_title: str | None = None
    feed_date: Published | None = None  # the feed's or sitemap's
    extracted: dict[str, Any] | None = None
    aliases: set[str] = field(default_factory=set)
    matches: list[Any] = field(default_factory=list)  # rules.matcher.Match, set by match
    poll: Any = None  # spiders.poll.Poll: the source's run this page belongs to

    def __repr__(self) -> str:  # items are logged; keep bodies and texts out of the log
        return f"ArticlePage({self.source}: {self.url})"


@dataclass
class StaleLink:
    """An article link whose feed or sitemap date is already outside max_age: recorded
    as seen (and too old) without downloading the page."""

    source: str
    url: str
    published: Published
    title: str | None = None
    poll: Any = None
