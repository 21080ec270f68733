"""Durations and times as typed on the command line, and human units."""

from datetime import datetime

import pytest

from lagwatch.units import human_bytes, parse_duration, parse_time, short_bytes


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("1.5", 1.5), ("250ms", 0.25)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m5", "-3", "5m garbage"])
def test_bad_durations_say_what_is_expected(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_times():
    now = datetime(2026, 11, 25, 15, 0, 0).timestamp()
    assert parse_time("1764100000", now) == 1764100000
    assert parse_time("10m", now) == now - 600
    assert parse_time("2026-11-25T14:03", now) == datetime(2026, 11, 25, 14, 3).timestamp()
    assert parse_time("14:03", now) == datetime(2026, 11, 25, 14, 3).timestamp()
    # A time of day later than now means yesterday: times never point into the future.
    assert parse_time("16:30", now) == datetime(2026, 11, 24, 16, 30).timestamp()
    with pytest.raises(ValueError, match="not a time"):
        parse_time("25:99", now)


def test_human_units():
    assert human_bytes(None) == "-" and human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB" and short_bytes(3 * 1024**3) == "3.0G"
