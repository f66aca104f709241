"""Publication times with their precision, and the one way a time is shown to a person.

A publication is `Published`: an aware `datetime` when the instant is known, or a bare
`date` when only the day is (a page that gives "3 December 2026"). A bare date is never
turned into midnight of some zone: it is stored, compared and shown as a date.

Every time a person reads (emails, the CLI, the web view, the daemon's log) goes
through `readable`, in the config's timezone with its abbreviation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

# datetime is a subclass of date: test for datetime first wherever the two differ
Published = datetime | date

DATE = "date"
TIME = "time"
# the zones people live in run from UTC-12 to UTC+14: a day D lasts, somewhere on Earth,
# from D 00:00+14:00 to D+1 00:00-12:00
_EARLIEST = timedelta(hours=14)
_LATEST = timedelta(hours=12)


def precise(value: datetime) -> Published:
    """A timestamp as published. Publishing systems that know only a day write it as
    midnight (exactly 00:00:00 in its own offset, or with no offset at all, which names
    no instant either): that is a date, not an instant."""
    if value.utcoffset() is None or value.time() == time(0):
        return value.date()
    return value


def parse_iso(text: str | None, naive_zone: tzinfo | None = UTC) -> Published | None:
    """An ISO 8601 date or date-time (sitemaps, feeds, page metadata). A bare date is a
    date; a time without an offset is read in `naive_zone`, or kept as its date when
    `naive_zone` is None (a page's local time of an unknown zone names no instant)."""
    if not text:
        return None
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:  # a date followed by something fromisoformat does not read
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    if len(text) <= 10:
        return value.date()
    if value.tzinfo is None:
        if naive_zone is None:
            return value.date()
        value = value.replace(tzinfo=naive_zone)
    return precise(value)


def first_instant(value: Published) -> datetime:
    """The earliest instant a publication can be: itself, or its day's first moment
    anywhere on Earth."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), UTC) - _EARLIEST


def last_instant(value: Published) -> datetime:
    """The latest instant a publication can be: itself, or its day's last moment
    anywhere on Earth (so a bare date is never judged too old before its day is over)."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1), time(0), UTC) + _LATEST


def choose(page: Published | None, listed: Published | None) -> Published | None:
    """An article's publication: the most precise one known.

    - The page's own full timestamp wins over the feed's or sitemap's (the page is the
      article; a feed's time may be when the entry was last updated).
    - A page that gives only a date takes the feed's time when that time falls on the
      page's date (somewhere on Earth: the page's zone is unknown).
    - A page date that the feed's time contradicts (another day) stays a date: the feed
      entry was most likely updated or re-issued later, and a date that is right beats a
      time that may belong to something else.
    - No page date: the feed's or sitemap's, with its own precision."""
    if page is None:
        return listed
    if isinstance(page, datetime):
        return page
    if isinstance(listed, datetime) and \
            first_instant(page) <= listed < last_instant(page):
        return listed
    return page


def to_row(value: Published | None) -> tuple[datetime | None, str | None]:
    """The `published` column (a UTC instant; a date as midnight UTC of that day) and
    the `published_precision` column."""
    if value is None:
        return None, None
    if isinstance(value, datetime):
        return value, TIME
    return datetime.combine(value, time(0), UTC), DATE


def from_row(value: datetime | None, precision: str | None) -> Published | None:
    """Back from the columns. Rows stored before the precision column existed wrote a
    page's bare date as midnight UTC: read exactly-midnight UTC as that date."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if precision == DATE or (precision is None and value.astimezone(UTC).time() == time(0)):
        return value.astimezone(UTC).date()
    return value


_FORMATS = {"day": "%Y-%m-%d", "minute": "%Y-%m-%d %H:%M %Z", "second": "%Y-%m-%d %H:%M:%S %Z"}


def readable(value: Published | None, tz: tzinfo, empty: str = "-", *,
             to: str = "minute") -> str:
    """A time as a person reads it: in the config's timezone with its abbreviation
    (`2026-12-03 15:34 PKT`; `to` "second" for log lines, "day" for narrow listings,
    which show only its day there); a bare date as that date (`2026-12-03`), never as a
    midnight; nothing as `empty`."""
    if value is None:
        return empty
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:  # the database's times are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).strftime(_FORMATS[to])
