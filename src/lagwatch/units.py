"""Human units for display, and parsing of durations and times given on the command line."""

from __future__ import annotations

import re
import time
from datetime import datetime

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in _BYTE_UNITS:
        if abs(size) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def short_bytes(value: float | None) -> str:
    """Compact form for tables: 512B, 4.0K, 100M, 1.2G (binary multiples, at most 6 chars)."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "K", "M", "G", "T"):
        if abs(size) < 1000 or unit == "T":
            return f"{size:.0f}{unit}" if unit == "B" or abs(size) >= 100 else f"{size:.1f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")


def compact_rate(value: float | None) -> str:
    return "-" if value is None else short_bytes(value) + "/s"


def compact_number(value: float | None) -> str:
    """Compact form for tables: 123k, 1234, 12.3 (one decimal only below 100)."""
    if value is None:
        return "-"
    if abs(value) >= 100000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def human_rate(value: float | None) -> str:
    return "-" if value is None else f"{human_bytes(value)}/s"


def human_number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 10000:
        return f"{value / 1000:.0f}k"
    return f"{value:.{digits}f}"


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
        return float(text)
    except ValueError:
        pass
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
