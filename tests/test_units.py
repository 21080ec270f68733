"""Durations and times as typed on the command line, and human units."""

import math
from datetime import datetime

import pytest

from lagwatch.units import (
    UNITS_LEGEND,
    format_bytes,
    format_number,
    format_rate,
    format_value,
    format_watts,
    parse_duration,
    parse_time,
)


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("1.5", 1.5), ("250ms", 0.25)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "5x", "m5", "-3", "5m garbage", "nan", "inf", "-inf", "1e999"]
)
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


def test_times_that_are_no_moment_are_refused():
    for text in ("nan", "inf", "-inf", "1e999"):
        with pytest.raises(ValueError, match="not a time"):
            parse_time(text, 1e9)


def test_one_form_per_kind_of_figure():
    assert format_bytes(None) == "-" and format_bytes(512) == "512B"
    assert format_bytes(1536) == "1.5K" and format_bytes(3 * 1024**3) == "3.0G"
    assert format_bytes(116 * 1024) == "116K" and format_bytes(999 * 1024) == "999K"
    assert format_bytes(1000 * 1024) == "1.0M"  # never "1000K": at most 5 characters
    assert format_rate(82.2 * 1024) == "82.2K/s" and format_rate(None) == "-"
    assert format_number(0.25) == "0.2" and format_number(12.34) == "12.3"
    assert format_number(1234.4) == "1234" and format_number(123456) == "123k"
    assert format_number(99.96) == "100" and format_number(2.5e6) == "2.5M"
    assert format_watts(1.234) == "1.23" and format_watts(123.45) == "123.5"
    # The detail views' form is the table's, with the unit the header would have said.
    assert format_value("memory_bytes", 1536 * 2**20) == "1.5G"
    assert format_value("disk_read_bytes_per_s", 2048.0) == "2.0K/s"
    assert format_value("cpu_percent", 12.34) == "12.3%"
    assert format_value("restricted", False) == "no" and format_value("gpu_percent", None) == "-"
    assert "KiB" in UNITS_LEGEND and "1024" in UNITS_LEGEND


@pytest.mark.parametrize("magnitude", range(0, 19))
def test_every_form_is_whole_and_short_at_any_magnitude(magnitude):
    for mantissa in (1.0, 4.99, 9.96, 99.96, 999.6):
        value = mantissa * 10**magnitude
        for formatter, most in ((format_bytes, 5), (format_number, 5)):
            text = formatter(value)
            assert len(text) <= most, (value, text)
            assert len(formatter(-value)) <= most + 1
        assert len(format_rate(value)) <= 7
        assert not math.isnan(value)
