"""The top parser against every real capture in ../shared/fixtures/macos/top (values read off
the files by hand) and against small captures written here for the edge cases."""

from __future__ import annotations

from datetime import datetime

import pytest

from lagwatch.parsers.errors import CaptureError
from lagwatch.parsers.top import (
    TopStreamParser,
    parse_cpu_usage_percent,
    parse_size,
    parse_time_ns,
    parse_top,
)

K, M, G, T = 1 << 10, 1 << 20, 1 << 30, 1 << 40


def load(macos_fixtures, prefix: str):
    """Parse the one capture whose file name starts with ``prefix``."""
    (path,) = (macos_fixtures / "top").glob(prefix + "*")
    return parse_top(path.read_text(encoding="utf-8"))


def rows_by_pid(block):
    return {r.pid: r for r in block.rows}


# --- one test per real capture -----------------------------------------------------------------


def test_firefox_interactive_screen_wide_columns_and_indentation(macos_fixtures):
    cap = load(macos_fixtures, "firefoxdocs_2015_INTERACTIVE")
    (block,) = cap.blocks
    # No header block: an interactive screen, not the first sample of a `top -l` run.
    assert not block.logging and not block.first and block.date is None
    assert block.columns == ["PID", "COMMAND", "%CPU", "IDLEW", "POWER"]
    assert block.column_starts[0] == 4  # 4 spaces of markdown indentation
    rows = rows_by_pid(block)
    assert len(rows) == 5
    assert (rows[50300].command, rows[50300].cpu_percent) == ("firefox", 12.9)
    assert rows[50300].get("IDLEW") == 278 and rows[50300].power == 26.6
    assert rows[76256].command == "plugin-container" and rows[76256].power == 11.3
    assert rows[151].get("IDLEW") == 68 and rows[151].power == 4.3
    # A name with a space, in a column spread over the terminal width.
    assert rows[76354].command == "Activity Monitor" and rows[76354].get("IDLEW") == 0


def test_java_header_only_with_stuck_processes(macos_fixtures):
    cap = load(macos_fixtures, "java-test_2017_header-only_stuck.txt")
    (block,) = cap.blocks
    s = block.system
    assert block.logging and block.first
    assert block.date == datetime(2017, 6, 5, 15, 4, 51)
    assert (s["processes_total"], s["processes_running"], s["processes_stuck"]) == (263, 2, 5)
    assert (s["processes_sleeping"], s["threads_total"]) == (256, 1421)
    assert (s["load_avg_1m"], s["load_avg_5m"], s["load_avg_15m"]) == (2.29, 2.02, 1.90)
    # Two-digit hundredths are printed properly: taken as they are.
    assert (s["cpu_user_percent"], s["cpu_sys_percent"], s["cpu_idle_percent"]) == (
        2.73, 10.95, 86.30,
    )  # fmt: skip
    assert s["sharedlibs_linkedit_bytes"] == 0  # "0B linkedit."
    # Older PhysMem line: no compressor part.
    assert s["physmem_used_bytes"] == 15 * G and s["physmem_wired_bytes"] == 1447 * M
    assert "physmem_compressor_bytes" not in s and s["physmem_unused_bytes"] == 1424 * M
    assert s["vm_vsize_bytes"] == 699 * G and s["vm_swapins"] == 0
    assert (s["net_packets_in"], s["net_in_bytes"]) == (224778, 181 * M)
    assert (s["disk_reads"], s["disk_read_bytes"], s["disk_written_bytes"]) == (
        229646, 5001 * M, 3311 * M,
    )  # fmt: skip
    assert block.rows == [] and block.columns == []


def test_pipe_head_header_only(macos_fixtures):
    cap = load(macos_fixtures, "m-series_macos14.1.1_pipe-head_header-only.txt")
    (block,) = cap.blocks
    s = block.system
    # top into a pipe is logging mode: a date line, not an interactive clock.
    assert block.logging and block.clock is None
    assert block.date == datetime(2025, 10, 6, 23, 50, 8)
    assert s["physmem_compressor_bytes"] == 5365 * M and s["physmem_unused_bytes"] == 58 * M
    assert s["vm_vsize_bytes"] == 234 * T  # "234T vsize"
    assert (s["vm_swapins"], s["vm_swapouts"]) == (5207999, 6574263)
    assert s["net_in_bytes"] == 168 * G and s["disk_written_bytes"] == 908 * G
    assert (s["cpu_user_percent"], s["cpu_sys_percent"], s["cpu_idle_percent"]) == (
        18.75, 14.47, 66.77,
    )  # fmt: skip


def test_m1pro_first_sample_by_cpu(macos_fixtures):
    cap = load(macos_fixtures, "m1pro_macos15.7.5_l1_n15")
    (block,) = cap.blocks
    assert block.first  # -l 1: top's first sample
    assert block.columns == ["PID", "COMMAND", "%CPU", "MEM", "#TH", "STATE"]
    rows = rows_by_pid(block)
    assert len(rows) == 15
    assert all(r.cpu_percent == 0.0 for r in block.rows)  # first-sample caveat
    assert rows[95207].command == "head" and rows[95207].memory_bytes == 753 * K
    assert rows[95206].memory_bytes == 6321 * K
    # "1/1" = threads/running; "running " padded to the column width.
    assert (rows[95206].threads, rows[95206].threads_running, rows[95206].state) == (
        1, 1, "running",
    )  # fmt: skip
    assert rows[94916].command == "TVCacheExtension"  # exactly 16 characters
    assert rows[94913].command == "MusicCacheExtens"  # cut to 16
    assert rows[94895].threads == 2 and rows[94895].threads_running is None
    s = block.system
    assert s["physmem_used_bytes"] == 15 * G and s["physmem_unused_bytes"] == 74 * M


def test_m1pro_by_mem_truncated_transcript(macos_fixtures):
    cap = load(macos_fixtures, "m1pro_macos15.7.5_l1_n20")
    (block,) = cap.blocks
    rows = rows_by_pid(block)
    # 18 rows printed; the last ("260M 0.0 […]") was elided by the transcript tool.
    assert len(rows) == 17 and 66808 not in rows
    assert any("line 30" in w and "cut short" in w for w in block.warnings)
    assert rows[157].command == "WindowServer" and rows[157].memory_bytes == 846 * M
    assert (rows[157].threads, rows[157].threads_running, rows[157].state) == (22, 1, "running")
    assert rows[66645].command == "Google Chrome He" and rows[66645].memory_bytes == 568 * M
    assert rows[25379].command == "Lark Helper (Ren" and rows[25379].threads == 27
    assert rows[92394].command == "Claude Helper (R" and rows[92394].threads_running == 1
    assert rows[64580].threads == 119


OPENCLAW = "openclaw_macmini_allcols_l1_TRUNCATED"
OPENCLAW_SHIFT = "openclaw_macmini_allcols_l1_2026-05-25b"


def test_openclaw_all_columns_and_na(macos_fixtures):
    cap = load(macos_fixtures, OPENCLAW)
    (block,) = cap.blocks
    s = block.system
    assert (s["cpu_user_percent"], s["cpu_sys_percent"], s["cpu_idle_percent"]) == (
        13.33, 10.37, 76.29,
    )  # fmt: skip
    assert s["physmem_compressor_bytes"] == 1578 * M and s["vm_vsize_bytes"] == 254 * T
    assert {"POWER", "INSTRS", "CYCLES", "JETPRI", "KSHRD"} <= set(block.columns)
    rows = rows_by_pid(block)
    # Five rows printed, the fifth cut mid-line ("30627  ") by the report generator.
    assert sorted(rows) == [95945, 95991, 98518, 99060] and 95939 not in rows
    assert any("line 17" in w for w in block.warnings)
    r = rows[95945]
    assert r.command == "com.apple.Mobile" and r.time_ns == 395_460_000_000  # 06:35.46
    assert (r.get("PPID"), r.get("UID"), r.get("USER"), r.state) == (1, 0, "root", "sleeping")
    assert r.get("BOOSTS") == (True, 0, 1)  # "*0[1]"
    assert (r.get("FAULTS"), r.get("PAGEINS"), r.get("IDLEW"), r.power) == (203711, 73303, 505, 0.0)
    assert r.memory_bytes == 56 * M and r.get("CMPRS") == 49 * M
    assert r.get("#MREGS") is None and r.get("KSHRD") is None  # N/A
    assert rows[98518].get("BOOSTS") == (True, 0, 1010)
    assert rows[99060].get("USER") == "3pigcn" and rows[99060].memory_bytes == 4208 * K


def test_openclaw_widths_shift_between_runs(macos_fixtures):
    shifted = load(macos_fixtures, OPENCLAW_SHIFT).blocks[0]
    other = load(macos_fixtures, OPENCLAW).blocks[0]
    # Same columns, other positions: PPID is wider, so STATE and everything after moved.
    assert shifted.columns == other.columns
    state = shifted.columns.index("STATE")
    assert shifted.column_starts[state] == 82 and other.column_starts[state] == 81
    s = shifted.system
    # top's misprint: "11.2% sys" is 11.02 (15.44 + 11.02 + 73.52 = 99.98).
    assert (s["cpu_user_percent"], s["cpu_sys_percent"], s["cpu_idle_percent"]) == (
        15.44, 11.02, 73.52,
    )  # fmt: skip
    rows = rows_by_pid(shifted)
    assert sorted(rows) == [95945, 95991, 98518, 99060]
    r = rows[95945]
    assert r.time_ns == 394_870_000_000 and r.get("CMPRS") == 48 * M  # 06:34.87, 48M
    assert (r.get("FAULTS"), r.get("COW"), r.get("CSW")) == (201520, 206, 4469856)
    assert r.state == "sleeping"
    assert rows[95991].memory_bytes == 34 * M and rows[95991].get("PAGEINS") == 2880


def test_osx2015_first_sample_plus_suffixes(macos_fixtures):
    cap = load(macos_fixtures, "osx2015_l1_allcols_first-sample-plus-suffixes.txt")
    (block,) = cap.blocks
    s = block.system
    assert s["processes_stuck"] == 4 and s["physmem_used_bytes"] == 4077 * M
    assert "physmem_compressor_bytes" not in s
    rows = rows_by_pid(block)
    assert len(rows) == 3
    helpd = rows[98523]
    # Every counter of a first sample carries "+": the value is without it, the mark apart.
    assert helpd.memory_bytes == 316 * K and helpd.marks["MEM"] == "+"
    assert helpd.get("#PORTS") == 34 and helpd.marks["#PORTS"] == "+"
    assert helpd.get("FAULTS") == 1650 and helpd.get("CSW") == 170 and helpd.get("PAGEINS") == 2
    assert helpd.get("IDLEW") == 1 and "IDLEW" not in helpd.marks
    assert helpd.get("BOOSTS") == (False, 0, 0)  # " 0[0]": not boosted
    maps = rows[97627]
    assert maps.get("BOOSTS") == (True, 0, 2) and maps.marks["BOOSTS"] == "+"  # "*0[2+]"
    assert maps.memory_bytes == 32 * K and maps.get("CMPRS") == 1620 * K
    assert rows[97622].command == "com.apple.Commer" and rows[97622].get("USER") == "kurohara"
    assert rows[97622].time_ns == 240_000_000  # 00:00.24


def test_ts_two_blocks_power_and_marks(macos_fixtures):
    cap = load(macos_fixtures, "ts-test_2026_l2_s0")
    first, second = cap.blocks
    assert first.first and not second.first
    assert (first.line, second.line) == (1, 9)
    assert first.date == datetime(2026, 8, 30, 16, 11, 44)
    assert second.date == datetime(2026, 8, 30, 16, 11, 45)
    assert [r.pid for r in first.rows] == [99587, 376]
    rows = rows_by_pid(second)
    assert sorted(rows) == [0, 329, 376, 7681, 24076]
    assert (rows[376].cpu_percent, rows[376].power) == (39.0, 40.0)
    assert rows[376].memory_bytes == 1402 * M and rows[376].marks["MEM"] == "-"
    assert (rows[0].cpu_percent, rows[0].power) == (35.6, 0.0)  # kernel_task: POWER 0.0
    assert rows[24076].memory_bytes == 1250 * M and rows[24076].marks["MEM"] == "+"
    assert rows[7681].power == 15.7 and "MEM" not in rows[7681].marks
    s = second.system
    # "10.8% user, 11.9% sys" are 10.08 and 11.09 (+ 78.81 idle = 99.98).
    assert (s["cpu_user_percent"], s["cpu_sys_percent"], s["cpu_idle_percent"]) == (
        10.08, 11.09, 78.81,
    )  # fmt: skip
    assert s["physmem_compressor_bytes"] == 16 * G
    assert "cpu_user_percent" not in first.system  # the author cut block 1's header down


# --- edge cases on small captures --------------------------------------------------------------


def test_cpu_usage_hundredths_misprint():
    assert parse_cpu_usage_percent("13.7") == 13.07
    assert parse_cpu_usage_percent("3.1") == 3.01
    assert parse_cpu_usage_percent("8.7") == 8.07
    assert parse_cpu_usage_percent("13.70") == 13.70
    assert parse_cpu_usage_percent("0.0") == 0.0
    with pytest.raises(ValueError):
        parse_cpu_usage_percent("abc")


def test_sizes_and_times():
    assert parse_size("0B") == 0 and parse_size("4096B") == 4096
    assert parse_size("753K") == 753 * K and parse_size("254T") == 254 * T
    assert parse_size("1.5G") == int(1.5 * G)
    # Delta mode prints a shrinking size with a minus (top's uinteger.c top_humanize_uinteger).
    assert parse_size("-3M") == -3 * M and parse_size("-16K") == -16 * K
    for bad in ("12", "K", "12Q", "--3M", "3-M"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert parse_time_ns("00:00.30") == 300_000_000
    assert parse_time_ns("123:45.67") == (123 * 60 + 45) * 10**9 + 670_000_000
    assert parse_time_ns("1:02:03") == 3723 * 10**9
    assert parse_time_ns("118 hrs") == 118 * 3600 * 10**9
    with pytest.raises(ValueError):
        parse_time_ns("yesterday")


INTERACTIVE = """\
Processes: 338 total, 2 running, 336 sleeping, 1591 threads            11:02:41
Load Avg: 1.50, 1.64, 1.71  CPU usage: 3.47% user, 2.94% sys, 93.58% idle
SharedLibs: 212M resident, 48M data, 21M linkedit.
PhysMem: 8185M used (1776M wired), 6M unused.

PID   COMMAND      %CPU TIME     #TH   MEM    STATE
4321  Google Chrom 12.5 01:02:03 35/2  512M   running
88    WindowServer 3.0  12:34.56 7     1024K- sleeping
"""


def test_interactive_header_packs_fields_and_ends_with_a_clock():
    (block,) = parse_top(INTERACTIVE).blocks
    assert block.clock == "11:02:41" and not block.logging and not block.first
    s = block.system
    assert s["processes_total"] == 338 and s["load_avg_15m"] == 1.71
    assert s["cpu_idle_percent"] == 93.58 and s["physmem_unused_bytes"] == 6 * M
    rows = rows_by_pid(block)
    assert rows[4321].time_ns == 3723 * 10**9 and rows[4321].threads_running == 2
    assert rows[88].memory_bytes == 1024 * K and rows[88].marks == {"MEM": "-"}


def test_crlf_ansi_and_stray_lines():
    text = (
        "junk before\r\n"
        "Processes: 2 total, 1 running, 1 sleeping, 3 threads\r\n"
        "2026/01/02 03:04:05\r\n\r\n"
        "\x1b[1mPID  COMMAND %CPU\x1b[0m\r\n"
        "1    launchd 0.0\r\n"
        "2    foo     1.5\r\n"
    )
    cap = parse_top(text)
    (block,) = cap.blocks
    assert [(r.pid, r.command, r.cpu_percent) for r in block.rows] == [
        (1, "launchd", 0.0),
        (2, "foo", 1.5),
    ]
    assert cap.warnings == ["line 1: not top output, ignored"]


def test_garbage_cell_in_the_middle_skips_the_row_not_the_block():
    text = (
        "Processes: 3 total\n2026/01/02 03:04:05\n\n"
        "PID  COMMAND %CPU MEM\n"
        "1    a       0.0  1M\n"
        "2    b       x.y  2M\n"
        "3    c       1.0  3M\n"
    )
    (block,) = parse_top(text).blocks
    assert [r.pid for r in block.rows] == [1, 3]
    assert block.warnings == ["line 6: unreadable %CPU, row skipped"]


def test_not_top_is_a_clean_error_with_the_line():
    with pytest.raises(CaptureError) as err:
        parse_top("\n\nhello world\nsecond line\n")
    assert err.value.line == 3
    with pytest.raises(CaptureError):
        parse_top("")


def test_stream_parser_finishes_a_block_when_the_next_starts():
    parser = TopStreamParser()
    lines = ["Processes: 1 total", "2026/01/02 03:04:05", "", "PID %CPU", "7   1.0"]
    assert all(parser.feed(line) == [] for line in lines)
    done = parser.feed("Processes: 1 total")
    assert [b.rows[0].pid for b in done] == [7] and done[0].first
    parser.feed("2026/01/02 03:04:06")
    last = parser.flush()
    assert last is not None and not last.first and last.rows == []
