"""Digest times in the config's timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from config.digest import next_due

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
