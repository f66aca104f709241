"""When an alert may go out: at once, or at the watch's next digest time in the
config's timezone (`daily` means daily@08:00, `weekly` Mondays at 08:00)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIME = time(8, 0)


def _at(day: datetime, when: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), when, tzinfo=tz)


def next_due(digest: str, tz: ZoneInfo, now: datetime) -> datetime:
    """The first send time strictly after `now` (UTC) for a digest; `now` itself for
    immediate."""
    if digest == "immediate":
        return now
    local = now.astimezone(tz)
    if digest == "hourly":
        due = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return due.astimezone(UTC)
    when = DEFAULT_TIME
    if digest.startswith("daily@"):
        hh, mm = digest.split("@", 1)[1].split(":")
        when = time(int(hh), int(mm))
    due = _at(local, when, tz)
    if digest == "weekly":
        due = _at(local - timedelta(days=local.weekday()), when, tz)
        while due <= local:
            due = _at(due + timedelta(days=7), when, tz)
        return due.astimezone(UTC)
    while due <= local:
        due = _at(due + timedelta(days=1), when, tz)
    return due.astimezone(UTC)
