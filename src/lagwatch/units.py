"""Human units for display, one form per kind of figure for every command, table and the TUI
(lagwatch.catalogue hands them to each metric), and parsing of the durations and times given
on the command line."""

from __future__ import annotations

import math
import re
import time
from datetime import datetime

# What every table's legend says about the units below (`--help`, README).
UNITS_LEGEND = (
    "Sizes and byte rates are 1024-based: K = KiB, M = MiB, G = GiB, T = TiB (4.0K = 4096 "
    "bytes). Counts and rates of events: k = thousand, M = million. '-' = not measured here."
)


def format_bytes(value: float | None) -> str:
    """The one form of a size, everywhere: 512B, 4.0K, 100M, 1.2G (1024-based, at most 5
    characters, 6 when negative)."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "K", "M", "G", "T", "P", "E"):
        if abs(size) < 999.5 or unit == "E":
            return f"{size:.0f}{unit}" if unit == "B" or abs(size) >= 99.95 else f"{size:.1f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_rate(value: float | None) -> str:
    """The one form of a byte rate: the size form per second (4.0K/s)."""
    return "-" if value is None else format_bytes(value) + "/s"


def format_number(value: float | None) -> str:
    """The one form of a percentage, an index or a count (per second): 0.2, 12.3, 1234, 123k,
    1.2M; one decimal below 100, at most 5 characters (6 when negative)."""
    if value is None:
        return "-"
    if abs(value) < 99.95:
        return f"{value:.1f}"
    if abs(value) < 99999.5:
        return f"{value:.0f}"
    for suffix in ("k", "M", "G", "T", "P", "E"):
        value /= 1000
        if abs(value) < 999.5 or suffix == "E":
            return f"{value:.0f}{suffix}" if abs(value) >= 9.95 else f"{value:.1f}{suffix}"
    raise AssertionError("unreachable")


def format_watts(value: float | None) -> str:
    """Power in watts: 0.25, 12.34, 123.4, 1234 (at most 6 characters below 1 MW)."""
    if value is None:
        return "-"
    if abs(value) < 99.995:
        return f"{value:.2f}"
    if abs(value) < 999.95:
        return f"{value:.1f}"
    return f"{value:.0f}"


def format_value(key: str, value: object) -> str:
    """A JSON-contract value in the one form its key's unit suffix calls for (detail views,
    timelines): the same text a table cell shows, with the unit spelled out where the
    column header would have said it."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        return str(value)
    if key.endswith("_bytes_per_s"):
        return format_rate(value)
    if key.endswith("_bytes"):
        return format_bytes(value)
    if key.endswith("_percent"):
        return f"{format_number(value)}%"
    if key.endswith("_per_s"):
        return f"{format_number(value)}/s"
    if key.endswith("_watts"):
        return f"{format_watts(value)} W"
    if key.endswith("_s"):
        return human_duration(value)
    if key == "score":
        return f"{value:.0f}"
    return format_number(value) if isinstance(value, float) else str(value)


# The names the catalogue and older callers use for the same formatters.
short_bytes = format_bytes
compact_rate = format_rate
compact_number = format_number


def human_duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_FACTORS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90s', '5m', '1h30m', '2d', or plain seconds. Raises ValueError with a readable reason."""
    text = text.strip().lower()
    try:
        value = float(text)
    except ValueError:
        pos, total = 0, 0.0
        for match in _DURATION.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _FACTORS[match.group(2)]
            pos = match.end()
        if pos != len(text) or pos == 0:
            raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 2h, 1d)") from None
        value = total
    if not math.isfinite(value):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 2h, 1d)")
    if value < 0:
        raise ValueError(f"duration must not be negative: {text!r}")
    return value


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def parse_time(text: str, now: float | None = None) -> float:
    """A unix timestamp, an ISO date/time ('2026-11-25 14:03'), a time of day ('14:03', the
    last such moment, so never in the future), or a duration ago ('10m')."""
    now = time.time() if now is None else now
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):  # "nan", "inf": floats, but no moment in time
            raise ValueError(
                f"not a time: {text!r} (use a unix time, an ISO time like "
                "2026-11-25T14:03, or a duration ago like 10m)"
            )
        return number
    if (clock := _CLOCK.fullmatch(text)) is not None:
        hour, minute, second = (int(g or 0) for g in clock.groups())
        if hour < 24 and minute < 60 and second < 60:
            today = datetime.fromtimestamp(now).replace(
                hour=hour, minute=minute, second=second, microsecond=0
            )
            at = today.timestamp()
            return at if at <= now else at - 86400
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        pass
    try:
        return now - parse_duration(text)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use a unix time, an ISO time like 2026-11-25T14:03, "
            "or a duration ago like 10m)"
        ) from None
