"""Digest times in the config's timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from newswatch.alerts.schedule import Schedule
from newswatch.config.digest import next_due
from newswatch.config.models import Config

KARACHI = ZoneInfo("Asia/Karachi")  # UTC+5, no DST
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("digest", "now", "tz", "due"), [
    ("immediate", "2026-03-14T10:20", KARACHI, "2026-03-14T10:20"),
    ("hourly", "2026-03-14T10:20", KARACHI, "2026-03-14T11:00"),
    ("daily", "2026-03-14T10:20", KARACHI, "2026-03-15T03:00"),  # 08:00 in Karachi
    ("daily@08:00", "2026-03-15T02:59", KARACHI, "2026-03-15T03:00"),
    ("daily@08:00", "2026-03-15T03:00", KARACHI, "2026-03-16T03:00"),  # strictly after now
    ("daily@23:30", "2026-03-14T10:20", KARACHI, "2026-03-14T18:30"),
    ("weekly", "2026-03-14T10:20", KARACHI, "2026-03-16T03:00"),  # Saturday -> Monday 08:00
    ("weekly", "2026-03-16T02:00", KARACHI, "2026-03-16T03:00"),
    ("daily@08:00", "2026-03-28T12:00", BERLIN, "2026-03-29T06:00"),  # DST starts: UTC+2
    ("daily@08:00", "2026-10-24T12:00", BERLIN, "2026-10-25T07:00"),  # DST ends: UTC+1
])
def test_next_due(digest: str, now: str, tz: ZoneInfo, due: str) -> None:
    got = next_due(digest, tz, datetime.fromisoformat(now).replace(tzinfo=UTC))
    assert got == datetime.fromisoformat(due).replace(tzinfo=UTC)


def schedule(digest: str | None, timezone: str = "UTC") -> Schedule:
    watches = [{"name": "w", "query": "crypto", "digest": digest}] if digest else []
    return Schedule(Config.model_validate({"timezone": timezone, "watches": watches}))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


QUEUED = at("2026-03-14T09:00")  # a Saturday; queued under `daily`: due Sunday 08:00


@pytest.mark.parametrize(("now_digest", "timezone", "now", "want"), [
    # nothing changed: the due time it was queued with
    ("daily", "UTC", "2026-03-14T10:00", ("daily", "2026-03-15T08:00")),
    # a new time or period: the first time of the new schedule after it was queued
    ("daily@15:42", "UTC", "2026-03-14T10:00", ("daily@15:42", "2026-03-14T15:42")),
    ("hourly", "UTC", "2026-03-14T09:30", ("hourly", "2026-03-14T10:00")),
    ("weekly", "UTC", "2026-03-14T10:00", ("weekly", "2026-03-16T08:00")),
    # a new time already past: due now, it goes at the next send
    ("daily@09:30", "UTC", "2026-03-14T12:00", ("daily@09:30", "2026-03-14T09:30")),
    ("immediate", "UTC", "2026-03-14T10:00", ("immediate", "2026-03-14T09:00")),
    # another timezone moves the same digest: 08:00 in Karachi is 03:00 UTC
    ("daily", "Asia/Karachi", "2026-03-14T10:00", ("daily", "2026-03-15T03:00")),
    # its watch left the config: as it was queued
    (None, "UTC", "2026-03-14T10:00", ("daily", "2026-03-15T08:00")),
])
def test_a_waiting_alert_follows_its_watchs_schedule_as_it_is_now(
        now_digest: str | None, timezone: str, now: str, want: tuple[str, str]) -> None:
    got = schedule(now_digest, timezone).of("w", "daily", at("2026-03-15T08:00"), QUEUED,
                                            at(now))
    assert got == (want[0], at(want[1]))


def test_a_due_time_that_has_come_stays() -> None:
    # due (its time came, or `send` is asked to send it): the schedule does not move it
    past = at("2026-03-14T09:30")
    got = schedule("daily").of("w", "daily", past, QUEUED, at("2026-03-14T10:00"))
    assert got == ("daily", past)
