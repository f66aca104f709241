"""A poll: one visit of one source by the crawl engine. Everything that used to be per
spider class (the source, its crawl options and domains, its counters, the links it has
seen, its run in the store) travels with the poll and its requests, so that one engine
crawls any number of sources at once. Also the two ends of the queue of polls: the
order a scheduler hands out and the outcome a worker reports back."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock
from typing import Any, Protocol

from newswatch.config.models import CrawlOptions, Source
from newswatch.config.pacing import Asked
from newswatch.config.times import Published
from newswatch.spiders.urls import registered_domain

# request.meta key of the poll a request belongs to
POLL = "newswatch_poll"
MAX_LISTED = 200  # feed entry dates a poll keeps (a feed lists 10-100)
NOON = clock(12, tzinfo=UTC)


@dataclass(frozen=True)
class PollOrder:
    """A poll a scheduler asks for: which source, and when it was due (epoch seconds)."""

    source: str
    due: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "due": self.due}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PollOrder:
        return cls(source=str(data["source"]), due=float(data.get("due") or time.time()),
                   id=str(data["id"]))


@dataclass(frozen=True)
class PollOutcome:
    """How a poll ended: ok, partial (some of its listings could not be read), failed
    or cancelled (with why); its counters; its run."""

    id: str
    source: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    run_id: int | None = None
    duration: float | None = None  # seconds

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "status": self.status,
                "counts": self.counts, "message": self.message, "run_id": self.run_id,
                "duration": self.duration}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PollOutcome:
        return cls(id=str(data["id"]), source=str(data["source"]), status=str(data["status"]),
                   counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
                   message=data.get("message"), run_id=data.get("run_id"),
                   duration=data.get("duration"))


class PollFeed(Protocol):
    """The worker's end of the queue of polls: the engine takes orders from it while it
    runs and reports each poll's start and end. A local pipe to the daemon, a list for a
    one-off crawl, or a distributed job queue: the crawl code sees only this."""

    async def take(self) -> PollOrder | None:
        """The next order, waiting for one; None when no more will come."""

    def started(self, order: PollOrder, run_id: int | None) -> None:
        """The poll's run was opened in the store."""

    def finished(self, outcome: PollOutcome) -> None:
        """The poll ended (its run is recorded)."""


@dataclass(eq=False)
class Poll:
    """One source being crawled. `pending` counts the work still to do for it (requests
    not yet answered, pages not yet through the pipeline); at zero the poll is over."""

    order: PollOrder
    source: Source
    options: CrawlOptions
    deadline: float  # time.monotonic()
    on_idle: Callable[[Poll], None] = lambda poll: None
    counts: Counter[str] = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)  # url keys of the links it followed
    seen_pages: set[str] = field(default_factory=set)  # canonical keys of its pages
    sitemaps: set[str] = field(default_factory=set)  # sitemap URLs requested
    # its listing endpoints that could not be read: (kind, url, why)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    # why articles it found could not be stored (the database's words), for its run
    store_errors: list[str] = field(default_factory=list)
    # conditional-GET validators of the listings it read, stored when it ends well
    validators: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # what its listings' answers asked of the schedule (spiders/asked.py)
    throttled: int | None = None  # the worst 429/5xx status
    asked: Asked | None = None  # the latest "not before" of a listing
    # publication dates of its feeds' entries, new or not (at most MAX_LISTED): how
    # often the source publishes, for a source whose schedule knows no article yet
    listed: list[datetime] = field(default_factory=list)
    run_id: int | None = None
    started: datetime | None = None
    pending: int = 1  # held by the engine until every start request is out
    state: str = "running"

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def open(self) -> bool:
        return self.state == "running"

    def __post_init__(self) -> None:
        self.domains: list[str] = sorted({registered_domain(u)
                                          for u in self.source.start_urls()})

    def note_dates(self, dates: Iterable[Published | None]) -> None:
        """Keep the publication dates of a feed's entries (a bare day as its noon UTC)."""
        for date in dates:
            if len(self.listed) >= MAX_LISTED:
                return
            if isinstance(date, datetime):
                self.listed.append(date)
            elif date is not None:
                self.listed.append(datetime.combine(date, NOON))

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def hold(self) -> None:
        self.pending += 1

    def release(self) -> None:
        self.pending -= 1
        if self.pending <= 0 and self.open:
            self.on_idle(self)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def __repr__(self) -> str:
        return f"Poll({self.name} {self.order.id}, {self.state}, pending {self.pending})"


def poll_of(obj: Any) -> Poll | None:
    """The poll of a request or response (None for the engine's own, e.g. robots.txt)."""
    meta = getattr(obj, "meta", None)
    if meta is None:
        return None
    poll = meta.get(POLL)
    return poll if isinstance(poll, Poll) else None
