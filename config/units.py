"""Parsing of the human units used in the config: durations (`15m`, `0.5s`) and sizes (`5MB`)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)\s*$")
# a year is 365 days: retention windows, not calendar dates
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
                   "y": 365 * 86400}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|KiB|MB|MiB|GB|GiB)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1, "kB": 1000, "KB": 1000, "KiB": 1024,
    "MB": 1000**2, "MiB": 1024**2, "GB": 1000**3, "GiB": 1024**3,
}


def parse_duration(value: object) -> timedelta:
    """`30s`, `15m`, `1h`, `3d`, `2w`, `2y`, `0.5s`, `250ms`; a bare 0 is zero."""
    if isinstance(value, timedelta):
        return value
    if value == 0:
        return timedelta(0)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 30s, 15m, 1h or 3d, got {value!r}")
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"bad duration {value!r}: use a number and a unit "
                         "(ms, s, m, h, d, w, y)")
    return timedelta(seconds=float(m.group(1)) * _DURATION_UNITS[m.group(2)])


def format_duration(td: timedelta) -> str:
    secs = td.total_seconds()
    for unit in ("y", "w", "d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if secs >= size and secs % size == 0:
            return f"{int(secs // size)}{unit}"
    return f"{secs:g}s"


def parse_size(value: object) -> int:
    """`500kB`, `5MB`, `2MiB` or a plain number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a size such as 5MB, got {value!r}")
    m = _SIZE.match(value)
    if not m:
        raise ValueError(f"bad size {value!r}: use a number and a unit (B, kB, MB, MiB, GB)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


def format_size(n: int) -> str:
    """Bytes as the largest binary unit that keeps a number of at least 1: 1.5 GiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
