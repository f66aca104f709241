"""Adaptive schedules: how long to wait before a source's next poll, decided from what
its polls found and what its site asked. One pure function, `decide`, from (the source's
pace so far, how its poll went, now) to its new pace, which carries the reason in words.

The rule, in full:

- A poll that finds new articles brings the interval back to `every` (the fastest).
- A poll that finds none lengthens it by half, but not past a twelfth of the gap between
  articles that the source's observed publishing rate predicts (new articles per hour
  over its polls, each poll's weight halving every day), so a source that publishes
  every 20 minutes stays near `every` between its articles; and never past `every_max`.
- A listing answered 429 or 5xx doubles the interval (up to `every_max`).
- Whatever the interval, the next poll is never sooner than the site asked
  (Cache-Control max-age, Expires, Retry-After).

The interval always stays within [every, every_max]. A source's first poll starts the
clock: the articles it finds are the feed's backlog, not new ones. Their publication
dates, though, say how often the source publishes, so a new source does not start at
`every` and back off one quiet poll at a time: while its record holds no article yet,
a poll that read dated feed entries seeds the record with the feed's rate (the newer
half of its dated entries over the time from the oldest of them to now, so a few stray
old dates do not slow it; weighed as at most a decay window's worth of polling), and
its interval goes straight to a twelfth of the gap that rate predicts (within the
bounds).
A feed of one dated entry, or of none, says nothing: the source starts at `every`."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo

from newswatch.config.models import Source
from newswatch.config.times import readable

log = logging.getLogger(__name__)

HALF_LIFE_HOURS = 24.0  # a poll's weight in the publishing rate halves every day
GROWTH = 1.5  # a poll that finds nothing lengthens the interval by half
# at most a twelfth of the expected gap between two articles: a source publishing every
# 30 minutes is polled every 2.5, so its articles reach their alerts within 3 minutes
SHARE = 1 / 12
THROTTLED = frozenset({429, 500, 502, 503, 504})
# the hours a record of polls weighs at most once decayed (each poll's weight halving
# every HALF_LIFE_HOURS): a feed's dates count as that much polling, however old
WINDOW_HOURS = HALF_LIFE_HOURS / math.log(2)
SOONEST_SEED_HOURS = 1 / 60  # entries dated now (or later) are read as a minute old


@dataclass(frozen=True)
class Limits:
    """A source's bounds in seconds: `every` and `every_max` (equal: a fixed schedule).
    A cron source has none: its clock is the cron, and only the site's asks apply."""

    fastest: float
    slowest: float
    cron: bool = False

    @classmethod
    def of(cls, source: Source) -> Limits:
        return cls(source.interval.total_seconds(), source.slowest.total_seconds(),
                   cron=source.cron is not None)

    def clamp(self, seconds: float) -> float:
        return min(self.slowest, max(self.fastest, seconds))


@dataclass(frozen=True, slots=True)
class Asked:
    """The earliest next poll a site asked for, and in what words."""

    not_before: datetime
    why: str  # "the feed asked max-age=3600"


@dataclass(frozen=True, slots=True)
class Polled:
    """What a poll found: its new articles, the worst 429/5xx status of its listings
    (None: none), and the latest time a response asked not to be polled again before."""

    new: int = 0
    throttled: int | None = None
    asked: Asked | None = None
    # the publication dates of the entries its feeds listed (new or not)
    listed: tuple[datetime, ...] = ()


@dataclass(frozen=True, slots=True)
class Pace:
    """A source's schedule as stored: its interval (seconds), its decayed publishing
    record, its streaks, its last and next poll, and why."""

    interval: float
    articles: float = 0.0  # new articles, each poll's count decayed by its age
    hours: float = 0.0  # hours polled, decayed alike
    quiet: int = 0  # polls in a row that found no new article
    strikes: int = 0  # polls in a row answered 429 or 5xx
    last_poll: datetime | None = None
    next_poll: datetime | None = None
    reason: str = ""
    asked: str | None = None  # set when the site's ask, not the interval, sets next_poll

    @property
    def rate(self) -> float | None:
        """New articles per hour, over the decayed window; None before any is known."""
        return self.articles / self.hours if self.hours > 0 else None


def roughly(seconds: float) -> str:
    """A duration as a person says it: 45s, 40m, 2h30m, 3d."""
    s = round(seconds)
    if s < 90:
        return f"{s}s"
    m = round(s / 60)
    if m < 90:
        return f"{m}m"
    if m < 48 * 60:
        h, m = divmod(m, 60)
        return f"{h}h{m:02d}m" if m else f"{h}h"
    return f"{round(m / 1440)}d"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Seed:
    """A publishing record read from a feed's dates: `articles` over `hours`."""

    articles: float
    hours: float
    entries: int  # the dated entries it read


def seed(listed: tuple[datetime, ...], now: datetime) -> Seed | None:
    """The publishing rate a feed's entry dates give, or None from fewer than two. The
    newer half of the entries (at least two) over the time from the oldest of them to
    now: a feed's tail may carry a stray old date, and a source that stopped publishing
    a while ago is slow now, whatever its entries' spacing once was."""
    if len(listed) < 2:
        return None
    newest = sorted((min(t, now) for t in listed), reverse=True)
    count = max(2, (len(newest) + 1) // 2)
    hours = max(SOONEST_SEED_HOURS, (now - newest[count - 1]).total_seconds() / 3600)
    # the span holds count - 1 gaps and part of the next one: on average, half of it
    articles = count - 0.5
    weight = min(hours, WINDOW_HOURS) / hours  # as much as a window of polls, no more
    return Seed(articles * weight, hours * weight, len(listed))


def decide(pace: Pace | None, polled: Polled, now: datetime, limits: Limits) -> Pace:
    """The source's pace after a poll that ended at `now`."""
    if pace is None or pace.last_poll is None:
        # the first poll: a clock starts; what it found is the backlog
        pace = Pace(interval=limits.fastest)
        first = True
    else:
        first = False
        hours = max(0.0, (now - pace.last_poll).total_seconds() / 3600)
        decay = 0.5 ** (hours / HALF_LIFE_HOURS)
        pace = replace(pace, articles=pace.articles * decay + max(0, polled.new),
                       hours=pace.hours * decay + hours)
    # a record without any article yet learns from the feed's dates (a first poll's
    # finds are backlog; a later poll's new articles are the record's own)
    learned = seed(polled.listed, now) if first or (pace.articles == 0
                                                    and polled.new <= 0) else None
    if learned is not None:
        pace = replace(pace, articles=pace.articles + learned.articles,
                       hours=pace.hours + learned.hours)
    if limits.cron:
        interval, reason = 0.0, "on its cron schedule"
        pace = replace(pace, quiet=0, strikes=0)
    elif polled.throttled is not None:
        strikes = pace.strikes + 1
        interval = limits.clamp(max(pace.interval, limits.fastest) * 2)
        reason = f"backing off after HTTP {polled.throttled}"
        if strikes > 1:
            reason += f" ({strikes} polls in a row)"
        pace = replace(pace, strikes=strikes)
    elif limits.slowest <= limits.fastest:
        interval, reason = limits.fastest, "a fixed schedule (every_max is every)"
        pace = replace(pace, strikes=0, quiet=0 if polled.new else pace.quiet + 1)
    elif learned is not None and pace.rate:
        interval = limits.clamp(SHARE * 3600 / pace.rate)
        reason = (f"{'first poll: ' if first else ''}its feed's {learned.entries} dated "
                  f"entries say it publishes about every {roughly(3600 / pace.rate)}")
        pace = replace(pace, strikes=0, quiet=0 if first else pace.quiet + 1)
    elif first:
        interval, reason = limits.fastest, "first poll: learning how often it publishes"
        pace = replace(pace, strikes=0)
    elif polled.new > 0:
        interval = limits.fastest
        reason = f"the last poll found {_plural(polled.new, 'new article')}"
        pace = replace(pace, strikes=0, quiet=0)
    else:
        quiet = pace.quiet + 1
        interval = pace.interval * GROWTH
        reason = f"no new articles in the last {_plural(quiet, 'poll')}"
        rate = pace.rate
        if rate:
            bound = SHARE * 3600 / rate
            if bound < interval:
                interval = bound
                reason += f"; it publishes about every {roughly(3600 / rate)}"
        interval = limits.clamp(interval)
        pace = replace(pace, strikes=0, quiet=quiet)
    next_poll = now + timedelta(seconds=interval)
    asked = None
    if polled.asked is not None and polled.asked.not_before > next_poll:
        next_poll, asked = polled.asked.not_before, polled.asked.why
    return replace(pace, interval=interval, last_poll=now, next_poll=next_poll,
                   reason=reason, asked=asked)


def explain(pace: Pace, tz: tzinfo) -> str:
    """Why the next poll is when it is, in a line: `every 40m: no new articles in the
    last 6 polls`, `not before 14:05 PKT: the feed asked max-age=3600`."""
    if pace.asked and pace.next_poll is not None:
        return f"not before {readable(pace.next_poll, tz)}: {pace.asked}"
    if pace.reason.startswith("on its cron"):
        return pace.reason
    return f"every {roughly(pace.interval)}: {pace.reason}"
