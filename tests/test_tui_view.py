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
    # pid and name are in the heading, the command line on a line of its own
    assert len(lines) == len(PROCESS_KEYS) - len(view.OWN_LINE_KEYS)
    assert not {label for label, _ in lines} & {"Command", "cmdline"}
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
    # The daemon stopped watching: it lasted at least that long.
    stopped = dict(PAUSE, kind="rogue", details={"ended": "daemon stopped"})
    assert view.event_cells(stopped)[3] == "4.1s+"
    calmed = dict(PAUSE, kind="rogue", details={"ended": "calmed"})
    assert view.event_cells(calmed)[3] == "4.1s"


# -- the process list: filter, kernel threads, tree, groups ------------------------------------


def family() -> list:
    """A shell running a build (make -> two cc), a daemon, and kernel threads."""

    def kid(pid, ppid, score, name, **kw):
        return row(pid, score, name, ppid=ppid, **kw)

    return [
        kid(1, 0, 0.0, "systemd", user="root"),
        kid(2, 0, 0.0, "kthreadd", user="root", memory_bytes=0),
        kid(3, 2, 0.0, "kworker/0:1", user="root", memory_bytes=0),
        kid(4, 2, 55.0, "kswapd0", user="root", memory_bytes=0),  # busy: always shown
        kid(100, 1, 1.0, "bash", cmdline="-bash"),
        kid(110, 100, 20.0, "make", cmdline="make -j2", app="proc:110:1100:make"),
        kid(111, 110, 70.0, "cc1", cmdline="cc1 big.c", app="proc:110:1100:make"),
        kid(112, 110, 60.0, "cc1", cmdline="cc1 small.c", app="proc:110:1100:make"),
        kid(200, 1, 5.0, "sshd", user="root", app="unit:ssh.service"),
    ]


def names(listed: view.ProcessList) -> list[str]:
    return [item.name for item in listed.items]


def test_filter_also_searches_command_lines_and_takes_a_regex() -> None:
    r = row(5, 1.0, "python3", cmdline="python3 -m http.server 8000")
    assert view.matches(r, "http.server") and view.matches(r, "HTTP")
    assert view.matches(r, "re:^py") and not view.matches(r, "re:^http")
    assert not view.matches(r, "re:(")  # an unfinished pattern matches nothing while typed
    assert not view.matches(row(6, 1.0, "x", cmdline=None), "http")  # unknown, not ""


def test_kernel_threads_are_hidden_unless_busy_or_asked_for() -> None:
    rk = ranking(family())
    listed = view.process_list(rk, view.ListOptions())
    assert "kworker/0:1" not in names(listed) and "kthreadd" not in names(listed)
    assert "kswapd0" in names(listed)  # stressing the machine: a culprit like any other
    assert listed.hidden_kernel == 2
    assert view.list_label(view.ListOptions(), listed.hidden_kernel) == [
        "2 kernel threads hidden (K)"
    ]
    shown = view.process_list(rk, view.ListOptions(kernel=True))
    assert {"kworker/0:1", "kthreadd"} <= set(names(shown)) and shown.hidden_kernel == 0


def test_tree_puts_processes_under_their_parents() -> None:
    rk = ranking(family())
    listed = view.process_list(rk, view.ListOptions(tree=True))
    assert names(listed) == [
        "systemd", "├─bash", "│ └─make", "│   ├─cc1", "│   └─cc1", "└─sshd", "kswapd0",
    ]  # fmt: skip
    # The cc1 that scores higher comes first among its siblings.
    assert [i.row.pid for i in listed.items][3:5] == [111, 112]
    # Filtered, a process still shows where it lives: its ancestors as dimmed context.
    only = view.process_list(rk, view.ListOptions(tree=True, text="cc1"))
    assert [(i.name, i.context) for i in only.items] == [
        ("systemd", True), ("└─bash", True), ("  └─make", True),
        ("    ├─cc1", False), ("    └─cc1", False),
    ]  # fmt: skip


def test_grouping_by_app_sums_members_and_focus_lists_them() -> None:
    rk = ranking(family())
    listed = view.process_list(rk, view.ListOptions(by="app"))
    top = listed.items[0]
    assert top.group is not None and top.name == "make (3)"
    assert top.row.cpu_percent == pytest.approx(3.0)  # 1 % each in fake_rankings' rows
    assert sorted(m.pid for m in top.group.members) == [110, 111, 112]
    members = frozenset(m.identity for m in top.group.members)
    focused = view.process_list(rk, view.ListOptions(by="app", focus=("make", members)))
    assert sorted(i.row.pid for i in focused.items) == [110, 111, 112]
    assert all(i.group is None for i in focused.items)
    assert view.list_label(view.ListOptions(by="app", focus=("make", members)), 0) == [
        "app: make (Esc: all)"
    ]
    by_user = view.process_list(rk, view.ListOptions(by="user"))
    assert {i.group.name for i in by_user.items if i.group} == {"alice", "root"}


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
