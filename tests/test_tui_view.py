"""The TUI's wording and drawing, without a terminal."""

from __future__ import annotations

import pytest

from fake_rankings import T0, ranking, row
from lagwatch.model import PROCESS_KEYS
from lagwatch.tui import view
from lagwatch.units import compact_number, compact_rate, short_bytes

pytestmark = pytest.mark.usefixtures("utc")  # times on screen do not depend on the machine


def test_spark_scales_0_to_100_and_leaves_unknown_blank() -> None:
    assert view.spark([0.0, 50.0, 100.0, None, 150.0, -3.0]) == "▁▅█ █▁"
    assert len(view.spark([None] * 10)) == 10


def test_chart_draws_levels_bottom_up() -> None:
    lines = view.chart([0.0, 50.0, 100.0, None], height=2, top=100.0)
    assert lines == ["  █ ", "▁██ "]  # 50 fills the lower half exactly
    # Without a top, the highest value fills the chart.
    assert view.chart([1.0, 2.0], height=1) == ["▄█"]
    assert view.chart([None, None], height=2) == ["  ", "  "]


def test_bucket_takes_the_max_per_column_and_backfills_one_interval() -> None:
    points = [(10.0, 5.0), (10.2, 7.0), (19.0, 1.0)]
    assert view.bucket(points, 10.0, 20.0, 10) == [7.0, None, None, None, None, None, None,
                                                    None, None, 1.0]  # fmt: skip
    # A tick's figures cover the interval before it: backfill that far, no further.
    filled = view.bucket([(13.0, 2.0), (20.0, 4.0)], 10.0, 20.0, 10, interval_s=1.0)
    assert filled == [None, 2.0, 2.0, 2.0, None, None, None, None, 4.0, 4.0]
    assert view.bucket([(5.0, 1.0), (25.0, 1.0), (15.0, None)], 10, 20, 4) == [None] * 4


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("memory_bytes", 1536 * 2**20, "1.5G"),  # the one form of every table
        ("disk_read_bytes_per_s", 2048.0, "2.0K/s"),
        ("cpu_percent", 99.0, "99.0%"),
        ("wakeups_per_s", 12.0, "12.0/s"),
        ("power_watts", 1.5, "1.50 W"),
        ("score", 81.4, "81"),
        ("restricted", True, "yes"),
        ("gpu_percent", None, "-"),
        ("dominant", "cpu", "cpu"),
    ],
)
def test_format_metric_by_unit_suffix(key, value, text) -> None:
    assert view.format_metric(key, value) == text


def test_compact_units() -> None:
    assert short_bytes(512) == "512B"
    assert short_bytes(100 * 2**20) == "100M"
    assert short_bytes(1.5 * 2**30) == "1.5G"
    assert compact_rate(None) == "-" and compact_rate(2048) == "2.0K/s"
    assert compact_number(123456) == "123k"
    assert compact_number(0.25) == "0.2"


def test_metric_lines_cover_every_contract_key() -> None:
    lines = view.metric_lines(row(1, 50.0, power_watts=2.0))
    assert len(lines) == len(PROCESS_KEYS) - 2  # pid and name are in the heading
    assert ("Power", "2.00 W") in lines
    grid = view.metric_grid(row(1, 50.0), 3)
    assert sum(len(line) for line in grid) == len(lines)
    assert all(len(line) <= 3 for line in grid)


def test_filter_matches_name_user_or_pid_prefix() -> None:
    r = row(4321, 1.0, "Firefox", user="bob")
    assert view.matches(r, "fire") and view.matches(r, "BOB") and view.matches(r, "43")
    assert not view.matches(r, "21") and not view.matches(r, "chrome")
    assert view.matches(r, "  ")


def test_visible_rows_sorts_and_filters() -> None:
    rk = ranking([row(1, 10.0, "a", cpu_percent=90.0), row(2, 50.0, "b", cpu_percent=5.0),
                  row(3, 30.0, "ab", cpu_percent=None)])  # fmt: skip
    assert [r.pid for r in view.visible_rows(rk, "score", "")] == [2, 3, 1]
    assert [r.pid for r in view.visible_rows(rk, "cpu", "")] == [1, 2, 3]  # unknown last
    assert [r.pid for r in view.visible_rows(rk, "score", "ab")] == [3]


def test_sort_keys_cycle_both_ways() -> None:
    first = view.SORT_ORDER[0]
    seen = {first}
    key = first
    for _ in range(len(view.SORT_ORDER) - 1):
        key = view.next_sort(key)
        seen.add(key)
    assert seen == set(view.SORT_ORDER)
    assert view.next_sort(key) == first
    assert view.next_sort(first, -1) == key


def test_mode_line_says_clearly_when_it_shows_the_past() -> None:
    rk = ranking([row(1, 1.0)], time=T0)
    live = view.mode_line(rk, False, T0 + 1, live_label="standalone")
    assert live.startswith("LIVE") and "14:00:00" in live and "REPLAY" not in live
    past = view.mode_line(rk, True, T0 + 600)
    assert past.startswith("REPLAY - the past: 2026-11-25 14:00:00 (10m ago)")
    assert "l: live" in past


def test_info_line_names_sources_and_restricted_count() -> None:
    rk = ranking([row(1, 1.0), row(2, 1.0, restricted=True)], sources=["procfs", "drm-fdinfo"])
    line = view.info_line(rk, 2, "cpu", "", "x")
    assert line == "sources: procfs, drm-fdinfo | 2 procs | 1 restricted | sort: cpu"
    assert "filter: 'fo' (1)" in view.info_line(rk, 1, "score", "fo", "x")


def test_info_line_of_a_recorded_tick_says_how_many_were_seen() -> None:
    from lagwatch.store import RecordedRanking

    rk = RecordedRanking(time=T0, interval_s=1.0, platform="linux", sources=["procfs"],
                         processes=[row(1, 80.0)], seen_process_count=312,
                         seen_restricted_count=7)  # fmt: skip
    line = view.info_line(rk, 1, "score", "", "x")
    assert "1 recorded of 312 procs" in line and "7 restricted" in line


PAUSE = {
    "id": 3, "kind": "pause", "start": T0, "end": T0 + 4.1, "duration_s": 4.1,
    "suspects": [{"pid": 9, "name": "hog", "score": 81.0, "dominant": "cpu",
                  "score_before": 80.0, "score_after": 82.0}],
    "details": {"expected_s": 0.25},
    "timeline": [{"time": T0 - 1, "phase": "before", "pid": 9, "name": "hog", "score": 80.0,
                  "dominant": "cpu", "cpu_percent": 99.0, "memory_bytes": 2**20,
                  "disk_read_bytes_per_s": None}],
}  # fmt: skip


def test_event_cells() -> None:
    cells = view.event_cells(PAUSE)
    assert cells == ("3", "pause", "11-25 14:00:00", "4.1s", "hog(9) 81")
    ongoing = dict(PAUSE, end=None, suspects=[])
    assert view.event_cells(ongoing)[3:] == ("ongoing", "no process stood out")


def test_goto_accepts_times_of_day_durations_and_dates() -> None:
    now = T0 + 3600  # 15:00 UTC
    assert view.parse_when("14:00", now) == T0
    assert view.parse_when("14:00:30", now) == T0 + 30
    assert view.parse_when("16:00", now) == T0 + 7200 - 86400  # not yet today: yesterday's
    assert view.parse_when("10m", now) == now - 600
    assert view.parse_when("2026-11-25 14:00", now) == T0
    with pytest.raises(ValueError):
        view.parse_when("25:00", now)
    with pytest.raises(ValueError, match="not a time"):
        view.parse_when("teatime", now)
