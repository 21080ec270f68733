"""Captures -> rankings (`lagwatch analyze` without the CLI): every real capture in
../shared/fixtures/macos/{top,powermetrics,nettop} ranked, with figures worked out by hand from
the files; plus small captures for what the real ones do not show."""

from __future__ import annotations

import math

import pytest

from lagwatch.captures.analyze import analyze, detect_format
from lagwatch.model import PROCESS_KEYS
from lagwatch.parsers.errors import CaptureError

K, M, G = 1 << 10, 1 << 20, 1 << 30


def run(macos_fixtures, kind: str, prefix: str, fmt: str = "auto"):
    """Rank the one capture in ``kind`` whose file name starts with ``prefix``."""
    (path,) = (macos_fixtures / kind).glob(prefix + "*")
    return analyze(path.read_bytes(), fmt)


def rows(item):
    return {r.pid: r for r in item.ranking.processes}


def memory_score(mem: int, total: int) -> float:
    """scoring.BANDS["memory"]: 0 at 5 % of RAM, 100 at 50 %, log in between."""
    frac = mem / total
    return round(100 * math.log(frac / 0.05) / math.log(10), 1)


def cpu_score(percent: float) -> float:
    """scoring.BANDS["cpu"]: 0 at 5 %, 100 at 200 %, log in between."""
    return round(100 * math.log(percent / 5) / math.log(40), 1)


def wakeups_sub(per_s: float) -> float:
    """scoring.BANDS["wakeups"]: 0 at 200/s, 100 at 20000/s."""
    return 100 * math.log(per_s / 200) / math.log(100)


# --- top ---------------------------------------------------------------------------------------


def test_top_interactive_delta_screen(macos_fixtures):
    a = run(macos_fixtures, "top", "firefoxdocs_2015_INTERACTIVE")
    assert a.format == "top"
    (item,) = a.rankings
    assert item.kind == "interactive" and not item.time_known
    ff = rows(item)[50300]
    # -d: IDLEW is per sample (POWER 26.6 = 12.9 + 278 x 0.05), at top's default 1 s.
    assert (ff.cpu_percent, ff.wakeups_per_s, ff.energy_impact) == (12.9, 278.0, 26.6)
    # CPU 25.7 and wakeups 7.2 combine as a probabilistic OR: 1 - (1 - .257)(1 - .072).
    cpu = 100 * math.log(12.9 / 5) / math.log(40)
    assert ff.score == round(100 * (1 - (1 - cpu / 100) * (1 - wakeups_sub(278) / 100)), 1) == 31.0
    assert ff.dominant == "cpu"
    assert rows(item)[76354].name == "Activity Monitor"
    assert item.ranking.energy_source == "top-power"
    # How the screen was read is said once, on one line naming where.
    assert a.warnings == ["line 1: IDLEW read as per-second deltas (top -d at its default 1 s)"]
    assert item.ranking.processes[0].pid == 50300  # worst first


@pytest.mark.parametrize(
    ("name", "line"),
    [("java-test_2017_header-only", 10), ("m-series_macos14.1.1_pipe-head", 10)],
)
def test_top_header_only_is_a_clean_error(macos_fixtures, name, line):
    with pytest.raises(CaptureError) as err:
        run(macos_fixtures, "top", name)
    assert err.value.line == line and "no whole process row" in err.value.message


def test_top_first_sample_has_null_rates_and_scores_memory(macos_fixtures):
    a = run(macos_fixtures, "top", "m1pro_macos15.7.5_l1_n20")
    (item,) = a.rankings
    assert item.kind == "first-block" and not item.interval_known
    assert len(item.ranking.processes) == 17
    assert any("line 30" in w for w in a.warnings)
    ws = item.ranking.processes[0]
    total = 15 * G + 103 * M  # PhysMem: 15G used, 103M unused
    assert item.system["memory_total_bytes"] == total
    assert (ws.pid, ws.name, ws.memory_bytes, ws.threads) == (157, "WindowServer", 846 * M, 22)
    assert ws.score == memory_score(846 * M, total) == 3.9 and ws.dominant == "memory"
    for r in item.ranking.processes:  # top printed 0.0 in a first sample: unknown, not zero
        assert r.cpu_percent is None and r.energy_impact is None and r.wakeups_per_s is None


@pytest.mark.parametrize(
    ("name", "pid", "mem"),
    [
        (
            "m1pro_macos15.7.5_l1_n15_o-cpu_stats-pid-command-cpu-mem-threads-state.txt",
            95206,
            6321 * K,
        ),
        ("openclaw_macmini_allcols_l1_TRUNCATED.txt", 95945, 56 * M),
        ("openclaw_macmini_allcols_l1_2026-05-25b_widths-shift_TRUNCATED.txt", 95991, 34 * M),
        ("osx2015_l1_allcols_first-sample-plus-suffixes.txt", 98523, 316 * K),
    ],
)
def test_top_single_first_blocks(macos_fixtures, name, pid, mem):
    (item,) = run(macos_fixtures, "top", name).rankings
    row = rows(item)[pid]
    assert row.memory_bytes == mem and row.cpu_percent is None and row.energy_impact is None
    assert row.pageins_per_s is None and row.ctx_switches_per_s is None


def test_top_openclaw_row_fields(macos_fixtures):
    (item,) = run(macos_fixtures, "top", "openclaw_macmini_allcols_l1_TRUNCATED.txt").rankings
    row = rows(item)[95945]
    assert (row.ppid, row.user, row.state, row.threads) == (1, "root", "sleeping", 4)
    assert item.system["cpu_sys_percent"] == 10.37


def test_top_two_blocks_rates_from_the_second(macos_fixtures):
    a = run(macos_fixtures, "top", "ts-test_2026_l2_s0")
    first, second = a.rankings
    assert first.kind == "first-block"
    assert all(r.cpu_percent is None for r in first.ranking.processes)
    assert second.kind == "logging" and second.ranking.interval_s == 1.0  # 16:11:44 -> :45
    r = rows(second)
    assert (r[376].cpu_percent, r[376].energy_impact) == (39.0, 40.0)
    assert (r[0].cpu_percent, r[0].energy_impact) == (35.6, 0.0)  # kernel_task's POWER is 0.0
    assert r[376].score == cpu_score(39.0) == 55.7
    assert [p.pid for p in second.ranking.processes[:3]] == [376, 0, 24076]
    assert second.ranking.energy_source == "top-power"
    assert second.system["memory_total_bytes"] == 47 * G + 139 * M


TWO_BLOCKS = """\
Processes: 3 total, 1 running, 2 sleeping, 10 threads
2026/01/02 03:04:05
Load Avg: 1.00, 1.00, 1.00

PID   COMMAND  %CPU  TIME     IDLEW  PAGEINS  CSW    MEM   POWER
10    busy     0.0   00:10.00 100    50       1000   100M  0.0
11    idle     0.0   00:01.00 5      1        10     1M    0.0
12    reused   0.0   00:00.50 7      0        3      2M    0.0

Processes: 3 total, 1 running, 2 sleeping, 10 threads
2026/01/02 03:04:07
Load Avg: 1.00, 1.00, 1.00

PID   COMMAND  %CPU  TIME     IDLEW  PAGEINS  CSW    MEM   POWER
10    busy     50.0  00:11.00 300    90       1400   120M  60.0
11    idle     0.0   00:01.00 5      1        10     1M    0.0
12    other    0.0   00:00.10 1      0        1      2M    0.0
"""


def test_top_counter_rates_between_blocks_on_the_measured_interval():
    _, second = analyze(TWO_BLOCKS.encode()).rankings
    # Interval from CPU time: 1.0 s gained at 50 % -> 2.0 s (the dates agree: :05 -> :07).
    assert second.ranking.interval_s == 2.0
    r = rows(second)
    busy = r[10]
    assert (busy.wakeups_per_s, busy.pageins_per_s, busy.ctx_switches_per_s) == (
        100.0,
        20.0,
        200.0,
    )  # fmt: skip  (300-100)/2, (90-50)/2, (1400-1000)/2
    assert busy.energy_impact == 60.0
    assert r[11].wakeups_per_s == 0.0  # known idle: zero
    # pid 12 now runs another command: a new process, no rate from the old one's counters.
    assert r[12].wakeups_per_s is None and r[12].name == "other"


def test_top_delta_mode_detected_from_falling_counters():
    text = TWO_BLOCKS.replace("300    90       1400", "30     9        140 ")
    _, second = analyze(text.encode()).rankings
    busy = rows(second)[10]
    assert (busy.wakeups_per_s, busy.pageins_per_s, busy.ctx_switches_per_s) == (15.0, 4.5, 70.0)


# --- powermetrics ------------------------------------------------------------------------------


def test_pm_plist_hog(macos_fixtures):
    a = run(macos_fixtures, "powermetrics", "hog_m1pro_macos15.3.2_showall_5samples.plist")
    assert a.format == "powermetrics-plist" and len(a.rankings) == 5
    item = a.rankings[0]
    assert item.ranking.sources == ["powermetrics-plist"] and item.ranking.platform == "macos"
    assert item.ranking.interval_s == pytest.approx(1.026, abs=1e-3)
    assert item.ranking.energy_source == "powermetrics"
    r = rows(item)[36601]
    assert r.name == "Code Helper (Renderer)"
    assert r.cpu_percent == 12.12  # 121.204 ms/s
    assert r.energy_impact == 68.3  # energy_impact_per_s 68.3027, powermetrics' own
    assert (r.disk_read_bytes_per_s, r.pageins_per_s, r.wakeups_per_s) == (285771.0, 5.81, 0.0)
    assert r.net_bytes_per_s == 0.0 and r.gpu_percent is None and r.memory_bytes is None
    assert item.system["combined_power_watts"] == pytest.approx(0.479512)
    assert item.system["all_tasks_cpu_percent"] == pytest.approx(135.601)
    assert -1 not in rows(item) and -2 not in rows(item)


def test_pm_plist_gmt(macos_fixtures):
    a = run(macos_fixtures, "powermetrics", "gmt_m1pro")
    assert len(a.rankings) == 29
    vm = rows(a.rankings[0])[96457]
    assert vm.energy_impact == 1714.78 and vm.cpu_percent == pytest.approx(101.115, abs=0.01)
    assert a.rankings[0].ranking.processes[0].pid == 96457  # a core flat out ranks first


def test_pm_text_binsquare_without_energy_column(macos_fixtures):
    (item,) = run(macos_fixtures, "powermetrics", "binsquare").rankings
    assert item.ranking.interval_s == pytest.approx(5.022, abs=1e-3)
    r = rows(item)
    assert len(r) == 16 and r[9721].cpu_percent == 95.25
    # No Energy Impact column: modelled (pmenergy weights; 0 package-idle wakeups).
    assert r[9721].energy_impact == 95.25 and item.ranking.energy_source == "pmenergy"
    assert r[0].wakeups_per_s == 0.0  # Pkg idle, not Intr (686.38)
    assert item.ranking.processes[0].pid == 9721


def test_pm_text_energy_column_and_bare_table(macos_fixtures):
    (item,) = run(macos_fixtures, "powermetrics", "asmond").rankings
    assert item.kind == "table" and not item.interval_known and not item.time_known
    ws = rows(item)[611]
    assert (ws.energy_impact, ws.cpu_percent, ws.wakeups_per_s, ws.gpu_percent) == (
        14.98, 18.84, 114.86, 0.0,
    )  # fmt: skip
    assert item.ranking.energy_source == "powermetrics"


@pytest.mark.parametrize(
    ("name", "count", "pid", "cpu"),
    [
        ("firefoxdocs_machpower_2015_coalition_gpu_text_INDENTED.txt", 19, 67319, 28.48),
        ("firefoxdocs_macos10.10_2015_tasks_coalition_gpu_text_INDENTED.txt", 14, 84628, 37.72),
        ("power-server_intel-mbp15-1_macos14.2_SPLICED.txt", 3, 391, 28.2),
        ("power-server_m1max-mbp18-4_macos13.6_tasks-gpu_cpu-power_text.txt", 104, 21834, 12.64),
        ("power-server_m2-mac14-2_macos12.5_SPLICED.txt", 3, 29420, 18.33),
        (
            "power-server_mac16-8_macos26.0_SUMMARY-block_tasks-gpu_cpu-power_text.txt",
            341,
            406,
            49.37,
        ),
    ],
)
def test_pm_text_rankings(macos_fixtures, name, count, pid, cpu):
    a = run(macos_fixtures, "powermetrics", name)
    (item,) = a.rankings  # samples without a task table (processor only) are not rankings
    assert len(item.ranking.processes) == count
    assert rows(item)[pid].cpu_percent == cpu


def test_pm_summary_kind_and_gpu(macos_fixtures):
    (item,) = run(macos_fixtures, "powermetrics", "power-server_mac16-8").rankings
    assert item.kind == "summary" and item.ranking.interval_s == pytest.approx(10.458, abs=1e-3)
    assert rows(item)[0].wakeups_per_s == 16.82 and rows(item)[406].gpu_percent == 0.0


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("applegpuinfo-7_m1pro_macos14_gpu_power_text.txt", 1),
        ("go-exporter-comment_intel-mbp15-1_macos11.6_smc_text_DECOMMENTED.txt", 10),
    ],
)
def test_pm_without_task_table_is_a_clean_error(macos_fixtures, name, line):
    with pytest.raises(CaptureError) as err:
        run(macos_fixtures, "powermetrics", name)
    assert err.value.line == line and "no task table" in err.value.message


# --- nettop ------------------------------------------------------------------------------------


def test_nettop_single_cumulative_frame(macos_fixtures):
    a = run(macos_fixtures, "nettop", "netscope-test_L1_no-P_conn-rows.csv")
    assert a.format == "nettop"
    (item,) = a.rankings
    r = rows(item)
    # Socket rows belong to their process; they are not processes.
    assert sorted(r) == [272, 284, 772] and r[772].name == "Microsoft Edge"
    assert all(p.net_bytes_per_s is None for p in item.ranking.processes)  # since socket open
    assert item.kind == "cumulative"


def test_nettop_second_frame_is_a_rate(macos_fixtures):
    a = run(macos_fixtures, "nettop", "network-usage-dashboard-test_P_L2_two-frames.csv")
    first, second = a.rankings
    assert all(p.net_bytes_per_s is None for p in first.ranking.processes)
    # Frame times: median 20:48:16.223333 -> 20:48:17.212294 = 0.988961 s. Frame 2 holds
    # deltas (every total fell), so bytes / interval.
    interval = 17.212294 - 16.223333
    assert second.kind == "delta" and second.ranking.interval_s == pytest.approx(interval)
    r = rows(second)
    assert r[18262].net_bytes_per_s == round((39652 + 1085) / interval, 2)
    assert r[51458].name == "Code Helper (Pl"  # cut before ".pid" by nettop
    assert r[51458].net_bytes_per_s == round(702 / interval, 2)
    assert r[79391].net_bytes_per_s == round((745 + 952) / interval, 2)
    assert second.ranking.processes[0].pid == 18262 and r[18262].dominant == "network"


def test_nettop_two_rows(macos_fixtures):
    (item,) = run(macos_fixtures, "nettop", "ts-comment_P_n_x_two-rows_DEINDENTED.csv").rankings
    assert sorted(rows(item)) == [1, 5034] and rows(item)[5034].name == "Slack Helper"


# --- formats and contract ----------------------------------------------------------------------


def test_detect_format_on_every_capture(macos_fixtures):
    expected = {"top": "top", "nettop": "nettop"}
    for kind in ("top", "powermetrics", "nettop"):
        for path in sorted((macos_fixtures / kind).iterdir()):
            fmt = detect_format(path.read_bytes())
            if kind == "powermetrics":
                want = "powermetrics-plist" if path.suffix == ".plist" else "powermetrics-text"
            else:
                want = expected[kind]
            assert fmt == want, path.name


def test_json_contract_keys(macos_fixtures):
    for kind in ("top", "powermetrics", "nettop"):
        for path in sorted((macos_fixtures / kind).iterdir()):
            try:
                result = analyze(path.read_bytes())
            except CaptureError:
                continue
            for item in result.rankings:
                out = item.to_json(path.name, limit=3)
                assert out["capture"]["file"] == path.name
                assert out["process_count"] == len(item.ranking.processes)
                for proc in out["processes"]:
                    assert tuple(proc) == PROCESS_KEYS


def test_forced_wrong_format_is_a_clean_error():
    with pytest.raises(CaptureError):
        analyze(TWO_BLOCKS.encode(), "powermetrics-text")
    with pytest.raises(CaptureError):
        analyze(TWO_BLOCKS.encode(), "powermetrics-plist")
    with pytest.raises(CaptureError):
        analyze(TWO_BLOCKS.encode(), "nettop")
    with pytest.raises(CaptureError) as err:
        analyze(b"\n\nnothing here\n")
    assert err.value.line == 3


# --- every row it can, one line per problem ---------------------------------------------------

OWN_PM = __import__("pathlib").Path(__file__).parent / "fixtures" / "powermetrics"
SHOW_ALL = OWN_PM / "powermetrics_show-all_lifetime-then-sampled_macos10.12_CONSTRUCTED.txt"
SUMMARY_26 = OWN_PM / "powermetrics_macos26_sampled-then-summary_CONSTRUCTED.txt"


def test_every_shared_capture_warns_in_single_lines_and_reads_top_as_bytes(macos_fixtures):
    for kind in ("top", "powermetrics", "nettop"):
        for path in sorted((macos_fixtures / kind).iterdir()):
            data = path.read_bytes()
            try:
                result = analyze(data)
            except CaptureError as exc:  # header-only captures: nothing usable, one line
                assert "\n" not in exc.message, path.name
                continue
            assert result.rankings, path.name
            for warning in result.warnings:
                assert "\n" not in warning and warning.startswith("line "), (path.name, warning)
            if kind == "top":  # byte slicing changes nothing for these ASCII captures
                from lagwatch.parsers.top import parse_top

                as_bytes = parse_top(data)
                as_text = parse_top(data.decode("utf-8", "replace"))
                assert [[r.values for r in b.rows] for b in as_bytes.blocks] == [
                    [r.values for r in b.rows] for b in as_text.blocks
                ], path.name


def test_show_all_ranks_the_sampled_block_only_and_no_coalition():
    a = analyze(SHOW_ALL.read_bytes())
    assert a.format == "powermetrics-text"
    (item,) = a.rankings
    assert item.kind == "sampled" and item.ranking.interval_s == pytest.approx(5.00321)
    names = {r.name for r in item.ranking.processes}
    assert names == {"Safari", "com.apple.WebKit.WebContent", "kernel_task", "mds_stores"}
    r = rows(item)
    assert r[1801].cpu_percent == 40.0 and r[1801].energy_impact == 45.1
    assert r[1801].gpu_percent == 4.8 and r[1801].wakeups_per_s == 130.0
    assert item.ranking.energy_source == "powermetrics"
    lifetime = [w for w in a.warnings if "Lifetime" in w]
    assert len(lifetime) == 1 and lifetime[0].startswith("line 10:")


def test_a_lifetime_block_alone_is_nothing_usable():
    text = SHOW_ALL.read_text()
    lifetime_only = text[: text.index("*** Sampled system activity")]
    with pytest.raises(CaptureError) as err:
        analyze(lifetime_only.encode())
    assert err.value.line == 10 and "sampled interval" in err.value.message


def test_damaged_show_all_keeps_every_whole_row_with_one_warning_per_problem():
    lines = SHOW_ALL.read_text().split("\n")
    start = lines.index("*** Sampled system activity (Mon Mar 16 10:20:35 2020 +0100) "
                        "(5003.21ms elapsed) ***")  # fmt: skip
    wc = next(i for i in range(start, len(lines)) if "com.apple.WebKit.WebContent" in lines[i])
    mds = next(i for i in range(start, len(lines)) if lines[i].startswith("  mds_stores"))
    lines[wc] = lines[wc][:60]  # cut inside the row
    lines[mds] = lines[mds].replace("95.00", "9x.00", 1)  # a damaged figure
    a = analyze("\n".join(lines).encode())
    (item,) = a.rankings
    assert {r.name for r in item.ranking.processes} == {"Safari", "kernel_task"}
    damage = [w for w in a.warnings if f"line {wc + 1}:" in w or f"line {mds + 1}:" in w]
    assert len(damage) == 2 and all("\n" not in w for w in damage)


def test_macos26_sampled_and_summary_blocks_both_ranked():
    a = analyze(SUMMARY_26.read_bytes())
    assert [i.kind for i in a.rankings] == ["sampled", "summary"] and not a.warnings
    summary = rows(a.rankings[1])
    assert summary[8123].cpu_percent == 81.24 and summary[406].gpu_percent == 1.25
    assert a.rankings[1].ranking.processes[0].pid == 8123  # the culprit: 81 % CPU
