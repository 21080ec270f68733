"""The powermetrics parsers against every real capture in ../shared/fixtures/macos/powermetrics
(values read off the files by hand) and against small captures written here for edge cases."""

from __future__ import annotations

import plistlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from lagwatch.parsers.errors import CaptureError
from lagwatch.parsers.powermetrics_plist import (
    PARTIAL,
    load_plist_document,
    parse_powermetrics_plist,
    split_plist_stream,
)
from lagwatch.parsers.powermetrics_text import parse_powermetrics_text

HOG = "hog_m1pro_macos15.3.2_showall_5samples.plist"
GMT = "gmt_m1pro_macos14.7.2_coalition_io_gpu_net_energy_29samples.plist"


def text_capture(macos_fixtures, prefix: str):
    """Parse the one text capture whose file name starts with ``prefix``."""
    (path,) = (macos_fixtures / "powermetrics").glob(prefix + "*")
    return parse_powermetrics_text(path.read_text())


def by_pid(sample):
    return {t.pid: t for t in sample.tasks}


# --- plist captures ----------------------------------------------------------------------------


def test_hog_plist_five_samples_nul_separated(macos_fixtures):
    data = (macos_fixtures / "powermetrics" / HOG).read_bytes()
    assert data.count(b"\0") == 4 and not data.endswith(b"\0")  # as PROVENANCE says
    cap = parse_powermetrics_plist(data)
    assert cap.format == "plist" and len(cap.samples) == 5 and cap.warnings == []
    assert cap.machine == {"hw_model": "MacBookPro18,3", "kern_osversion": "24D81"}
    first = cap.samples[0]
    assert first.line == 1 and not first.truncated and first.is_delta is True
    assert first.elapsed_s == pytest.approx(1.026042166)
    assert first.time == datetime(2025, 3, 24, 16, 57, 20, tzinfo=UTC)
    task = by_pid(first)[36601]
    assert task.name == "Code Helper (Renderer)"
    assert (task.coalition_id, task.coalition_name) == (40097, "com.microsoft.VSCode")
    assert task.cpu_ms_per_s == 121.204 and task.cpu_percent == pytest.approx(12.1204)
    assert (task.cputime_ns, task.interval_ns) == (125080541, 1031987541)
    assert (task.intr_wakeups, task.idle_wakeups, task.idle_wakeups_per_s) == (13, 0, 0.0)
    assert (task.diskio_bytesread, task.disk_read_bytes_per_s) == (294912, 285771.0)
    assert (task.pageins, task.pageins_per_s) == (6, 5.81402)
    assert (task.energy_impact, task.energy_impact_per_s) == (70.4875, 68.3027)
    assert task.energy_impact_rate == 68.3027
    assert task.qos_ns["user_interactive"] == 118780416
    assert task.parent_pid is None  # -1 in the capture: unknown
    assert (task.bytes_received, task.net_rx_bytes_per_s) == (0, 0.0)
    vscode = next(c for c in first.coalitions if c.id == 40097)
    assert vscode.gpu_ms_per_s == 1.24677  # GPU time is on coalitions, not on tasks
    assert all(t.gpu_ms_per_s is None for t in first.tasks)
    # The pseudo tasks are kept apart from the processes.
    assert first.all_tasks is not None and first.all_tasks.energy_impact == 350.038
    assert first.dead_tasks is not None and first.dead_tasks.pid == -1
    assert all(t.pid >= 0 for t in first.tasks)
    s = first.system
    assert s["cpu_power_watts"] == pytest.approx(0.453198)
    assert s["combined_power_watts"] == pytest.approx(0.479512)
    assert s["cpu_energy_mj"] == 465 and s["thermal_pressure"] == "Nominal"


def test_gmt_plist_29_samples_and_interval(macos_fixtures):
    data = (macos_fixtures / "powermetrics" / GMT).read_bytes()
    cap = parse_powermetrics_plist(data)
    assert len(cap.samples) == 29 and cap.warnings == []
    first = cap.samples[0]
    assert first.elapsed_s == pytest.approx(0.132882041)
    vm = by_pid(first)[96457]
    assert vm.name == "com.apple.Virtualization.VirtualMachine"
    assert vm.cpu_ms_per_s == 1011.15 and vm.intr_wakeups == 6
    # energy_impact is the amount over the ~133 ms interval; _per_s the rate.
    assert (vm.energy_impact, vm.energy_impact_per_s) == (228.407, 1714.78)
    assert vm.started_abstime_ns == 6339466243221
    assert all(t.gputime_ns is None for s in cap.samples for t in s.tasks)
    assert all(t.pid >= 0 for s in cap.samples for t in s.tasks)
    assert cap.samples[-1].line > cap.samples[0].line


def test_plist_cut_last_document_keeps_its_whole_tasks(macos_fixtures):
    data = (macos_fixtures / "powermetrics" / HOG).read_bytes()
    last_start = data.rindex(b"<?xml")
    cut = data[: last_start + 40000]  # powermetrics killed while writing sample 5
    cap = parse_powermetrics_plist(cut)
    assert len(cap.samples) == 5
    last = cap.samples[-1]
    assert last.truncated and 0 < len(last.tasks) < 104
    assert any("cut short" in w for w in cap.warnings)
    whole = parse_powermetrics_plist(data).samples[-1]
    kept = by_pid(last)
    # What was kept is exactly what the whole document says.
    for pid, task in kept.items():
        assert task == by_pid(whole)[pid]


# --- text captures -----------------------------------------------------------------------------


def test_applegpuinfo_gpu_power_only(macos_fixtures):
    cap = text_capture(macos_fixtures, "applegpuinfo-7_m1pro_macos14_gpu_power_text.txt")
    (s,) = cap.samples
    assert s.kind == "sampled" and not s.has_task_table
    assert s.time == datetime(2024, 5, 17, 19, 21, 15, tzinfo=timezone(timedelta(hours=-4)))
    assert s.elapsed_s == pytest.approx(0.50781)
    assert s.system == {
        "gpu_active_frequency_mhz": 389.0,
        "gpu_active_percent": 8.49,
        "gpu_idle_percent": 91.51,
        "gpu_power_watts": 0.014,
    }


def test_asmond_table_with_gpu_and_energy_columns(macos_fixtures):
    cap = text_capture(macos_fixtures, "asmond_process")
    (s,) = cap.samples
    assert s.kind == "table" and s.time is None and s.elapsed_s is None
    tasks = by_pid(s)
    ws = tasks[611]
    assert (ws.cpu_ms_per_s, ws.user_percent) == (188.39, 63.79)
    assert (ws.deadlines_short_per_s, ws.deadlines_medium_per_s) == (30.43, 5.89)
    assert (ws.intr_wakeups_per_s, ws.idle_wakeups_per_s) == (207.14, 114.86)
    assert (ws.gpu_ms_per_s, ws.energy_impact) == (0.0, 14.98)
    assert tasks[59691].name == "Code Helper (GPU)" and tasks[59691].energy_impact == 0.02
    assert s.all_tasks is not None and s.all_tasks.energy_impact == 58.89
    assert -2 not in tasks


def test_binsquare_default_text(macos_fixtures):
    cap = text_capture(macos_fixtures, "binsquare_mac16-6_macos15.5_text_default.txt")
    assert cap.machine["machine_model"] == "Mac16,6" and cap.machine["os_version"] == "24F74"
    assert cap.machine["boot_arguments"] == ""
    (s,) = cap.samples
    assert s.time == datetime(2025, 11, 8, 15, 54, 21, tzinfo=timezone(timedelta(hours=9)))
    assert s.elapsed_s == pytest.approx(5.02196)
    tasks = by_pid(s)
    assert len(tasks) == 16  # 18 rows minus DEAD_TASKS and ALL_TASKS
    assert tasks[9721].cpu_ms_per_s == 952.47 and tasks[9721].user_percent == 96.91
    assert tasks[0].name == "kernel_task" and tasks[0].intr_wakeups_per_s == 686.38
    assert tasks[0].deadlines_short_per_s == 265.00 and tasks[0].deadlines_medium_per_s == 2.59
    assert tasks[24739].gpu_ms_per_s is None and tasks[24739].energy_impact is None
    assert s.dead_tasks is not None and s.dead_tasks.cpu_ms_per_s == 323.32
    assert s.all_tasks is not None and s.all_tasks.cpu_ms_per_s == 2421.75
    sy = s.system
    assert (sy["cpu_power_watts"], sy["gpu_power_watts"], sy["ane_power_watts"]) == (
        0.954, 0.028, 0.0,
    )  # fmt: skip
    assert sy["combined_power_watts"] == 0.983 and sy["battery_percent"] == 36.0
    assert sy["net_out_bytes_per_s"] == 4586.65 and sy["net_in_packets_per_s"] == 86.02
    assert sy["disk_read_kbytes_per_s"] == 45.67 and sy["disk_write_ops_per_s"] == 73.88
    assert sy["e_cluster_active_percent"] == 100.0


def test_firefox_machpower_coalitions_indented(macos_fixtures):
    cap = text_capture(macos_fixtures, "firefoxdocs_machpower")
    (s,) = cap.samples
    names = [c.name for c in s.coalitions]
    assert names == [
        "com.google.Chrome", "com.apple.WindowServer", "com.apple.Safari",
        "kernel_coalition", "org.mozilla.firefox", "com.apple.Terminal",
    ]  # fmt: skip
    chrome = s.coalitions[0]
    # Coalition rows leave User% and Deadlines blank.
    assert (chrome.id, chrome.cpu_ms_per_s, chrome.gpu_ms_per_s) == (500, 439.64, 19.17)
    assert (chrome.intr_wakeups_per_s, chrome.idle_wakeups_per_s) == (585.35, 218.62)
    assert [t.pid for t in chrome.tasks] == [67319, 67304, 67301, 67320]
    tasks = by_pid(s)
    assert len(tasks) == 19 and 500 not in tasks  # coalition ids are not pids
    helper = tasks[67319]
    assert helper.name == "Google Chrome Helper" and helper.coalition_id == 500
    assert (helper.cpu_ms_per_s, helper.user_percent, helper.deadlines_short_per_s) == (
        284.75, 83.03, 296.67,
    )  # fmt: skip
    assert tasks[67373].name == "com.apple.WebKit.Plugin.64"
    assert tasks[0].coalition_name == "kernel_coalition" and tasks[141].gpu_ms_per_s == 80.53


def test_firefox_tasks_coalition_sample(macos_fixtures):
    cap = text_capture(macos_fixtures, "firefoxdocs_macos10.10")
    (s,) = cap.samples
    assert s.time == datetime(2015, 9, 4, 17, 15, 14, tzinfo=timezone(timedelta(hours=10)))
    assert s.elapsed_s == pytest.approx(5.00963)
    assert len(s.coalitions) == 5 and len(s.tasks) == 14
    kernel = next(c for c in s.coalitions if c.name == "kernel_coalition")
    # Coalition id 1 holds launchd, pid 1: one is a coalition, the other a process.
    assert kernel.id == 1 and [t.pid for t in kernel.tasks] == [0, 1]
    tasks = by_pid(s)
    assert tasks[84627].gpu_ms_per_s == 204.47 and tasks[84628].deadlines_medium_per_s == 18.56
    assert tasks[1].name == "launchd" and tasks[1].cpu_ms_per_s == 18.88


def test_go_exporter_intel_smc_preamble(macos_fixtures):
    cap = text_capture(macos_fixtures, "go-exporter-comment_intel-mbp15-1")
    assert cap.machine["smc_version"] == "Unknown" and cap.machine["efi_version"] == "1554.20.0"
    assert cap.machine["boot_time"] == "Sun Feb 27 07:49:33 2022"
    (s,) = cap.samples
    assert s.elapsed_s == pytest.approx(0.00832) and not s.has_task_table
    assert s.system["fan_rpm"] == 3906.89
    assert s.system["cpu_die_temperature_celsius"] == 74.80
    assert s.system["gpu_die_temperature_celsius"] == 70.00


def test_power_server_intel_spliced(macos_fixtures):
    cap = text_capture(macos_fixtures, "power-server_intel-mbp15-1_macos14.2_SPLICED.txt")
    assert cap.machine["efi_version"] == "2020.1.0" and cap.machine["os_version"] == "23C71"
    table, processor = cap.samples
    # The spliced table has no "*** Sampled" line of its own.
    assert table.kind == "table" and table.has_task_table and table.elapsed_s is None
    assert sorted(by_pid(table)) == [391, 29419, 29420]
    assert table.all_tasks is not None and table.all_tasks.deadlines_short_per_s == 1161.97
    assert processor.kind == "sampled" and processor.elapsed_s == pytest.approx(1.00238)
    assert processor.system == {"package_power_watts": 8.53}


def test_power_server_m1max_samp_column(macos_fixtures):
    cap = text_capture(macos_fixtures, "power-server_m1max-mbp18-4")
    (s,) = cap.samples
    tasks = by_pid(s)
    assert len(tasks) == 104
    ws = tasks[391]
    assert (ws.cpu_ms_per_s, ws.cpu_sample_ms_per_s, ws.user_percent) == (281.98, 283.25, 82.97)
    assert (ws.intr_wakeups_per_s, ws.idle_wakeups_per_s, ws.gpu_ms_per_s) == (428.87, 8.85, 0.0)
    assert tasks[21834].deadlines_short_per_s == 708.22 and tasks[21834].name == "idea"
    assert s.dead_tasks is not None and s.dead_tasks.cpu_ms_per_s == 12.64
    assert s.all_tasks is not None and s.all_tasks.intr_wakeups_per_s == 2875.29
    assert s.system["cpu_power_watts"] == 0.211 and s.system["combined_power_watts"] == 0.359
    assert s.system["p0_cluster_active_percent"] == 16.05


def test_power_server_m2_spliced_processor_section(macos_fixtures):
    cap = text_capture(macos_fixtures, "power-server_m2-mac14-2_macos12.5_SPLICED.txt")
    tasks, processor = cap.samples
    assert len(tasks.tasks) == 3 and processor.tasks == []
    sy = processor.system
    assert (sy["e_cluster_power_watts"], sy["p_cluster_power_watts"]) == (0.006, 0.004)
    assert (sy["dram_power_watts"], sy["dcs_power_watts"], sy["package_power_watts"]) == (
        0.019, 0.036, 0.025,
    )  # fmt: skip
    assert sy["e_cluster_active_percent"] == 5.37


def test_summary_block_layout(macos_fixtures):
    cap = text_capture(macos_fixtures, "power-server_mac16-8")
    (s,) = cap.samples
    assert s.kind == "summary" and s.elapsed_s == pytest.approx(10.45815)
    tasks = by_pid(s)
    assert len(tasks) == 341
    ws = tasks[406]
    # "[total]" brackets are skipped; every value lands in its own column.
    assert (ws.cpu_ms_per_s, ws.cpu_sample_ms_per_s, ws.user_percent) == (493.74, 493.96, 64.82)
    assert (ws.deadlines_short_per_s, ws.deadlines_medium_per_s) == (65.95, 0.0)
    assert (ws.intr_wakeups_per_s, ws.idle_wakeups_per_s) == (656.62, 4.21)
    assert ws.dead is False and ws.gpu_ms_per_s == 0.0
    kt = tasks[0]
    assert (kt.intr_wakeups_per_s, kt.idle_wakeups_per_s) == (3338.72, 16.82)
    assert tasks[1].cpu_ms_per_s == 1.60 and tasks[660].name == "com.crowdstrike.falcon.Agent"
    assert s.dead_tasks is not None and s.dead_tasks.cpu_ms_per_s == 30.78
    assert s.all_tasks is not None and s.all_tasks.cpu_ms_per_s == 1287.34
    assert s.system["combined_power_watts"] == 0.519


# --- edge cases ----------------------------------------------------------------------------------


def pm_doc(tasks, elapsed_ns=1_000_000_000, coalitions=True, extra=None) -> bytes:
    body = {"is_delta": True, "elapsed_ns": elapsed_ns, "hw_model": "Mac14,2"}
    if coalitions:
        body["coalitions"] = [{"id": 7, "name": "co", "tasks": tasks}]
    else:
        body["tasks"] = tasks
    body.update(extra or {})
    return plistlib.dumps(body)


def task(pid, name, **kw):
    return {"pid": pid, "name": name, "cputime_ms_per_s": 10.0, **kw}


def test_plist_stray_lines_comments_ampersand_trailing_nul_and_odd_keys():
    second = pm_doc(
        [task(2, "b")],
        coalitions=False,
        extra={"processor": {"package_watts ": 7.5, "cpu_power": 900.0}},
    ).replace(b"<dict>", b"<!-- start GPU -->\n<dict>", 1)
    data = (
        b"Second underflow occured\n"
        + pm_doc([task(1, "Tom & Jerry")]).replace(b"&amp;", b"&")
        + b"\0proc_pid_rusage failed\n"
        + second
        + b"\0"
    )
    cap = parse_powermetrics_plist(data)
    assert [t.name for s in cap.samples for t in s.tasks] == ["Tom & Jerry", "b"]
    assert len(cap.warnings) == 2 and "line 1" in cap.warnings[0]
    assert "proc_pid_rusage failed" in cap.warnings[1]
    assert cap.samples[1].system["package_watts"] == 7.5  # trailing space in the key
    assert cap.samples[1].system["cpu_power_watts"] == 0.9


def test_plist_garbage_document_is_skipped_and_all_garbage_is_an_error():
    good = pm_doc([task(1, "a")])
    cap = parse_powermetrics_plist(b"<?xml version='1.0'?><plist><dict><key>x" + b"\0" + good)
    assert len(cap.samples) == 1 and cap.samples[0].tasks[0].name == "a"
    with pytest.raises(CaptureError) as err:
        parse_powermetrics_plist(b"\n\n<?xml version='1.0'?>\n<plist><<<</plist>")
    assert err.value.line == 3
    with pytest.raises(CaptureError):
        parse_powermetrics_plist(plistlib.dumps({"CFBundleName": "not powermetrics"}))
    with pytest.raises(CaptureError):
        parse_powermetrics_plist(b"just text\n")


def test_plist_partial_document_conversion_stops_at_the_cut():
    doc = pm_doc([task(1, "a"), task(2, "b", energy_impact=5.0)])
    cut = doc[: doc.index(b"<string>b</string>") + 5]
    value, problem = load_plist_document(cut)
    assert problem is not None and value is not None
    (coalition,) = value["coalitions"]
    first, second = coalition["tasks"]
    # Incomplete dictionaries say so: a consumer keeps only whole tasks.
    assert coalition[PARTIAL] and PARTIAL not in first and first["name"] == "a"
    # (plistlib sorts keys: the cut falls inside "name", after two complete values.)
    assert second == {PARTIAL: True, "cputime_ms_per_s": 10.0, "energy_impact": 5.0}
    (s,) = parse_powermetrics_plist(cut).samples
    assert [t.name for t in s.tasks] == ["a"] and s.truncated


def test_split_stream_keeps_an_unfinished_document_for_later():
    doc = pm_doc([task(1, "a")])
    docs, rest, warnings = split_plist_stream(doc + b"\0" + doc[:50], final=False)
    assert len(docs) == 1 and docs[0].complete and rest == doc[:50] and warnings == []
    docs, rest, _ = split_plist_stream(doc[:3], final=False)
    assert docs == [] and rest == doc[:3]


TEXT_EDGE = """\
*** Summary system activity (Wed Oct  8 09:59:30 2025 +0200) (2000.00ms elapsed) ***

*** Running tasks ***

Name                               ID     CPU ms/s  samp ms/s [total]     User%  Deadlines/s [total] (<2 ms, 2-5 ms)  Wakeups/s [total] (Intr, Pkg idle)  Dead  GPU ms/s
gone                               42     5.00      5.00      [10.00    ] 50.00  0.00    [0      ] 0.00    [0      ]  1.00    [2      ] 0.50    [1      ] Y     0.00
a very long process name that overflows 43 1.00 1.00 [2.00] 10.00 0.00 [0] 0.00 [0] 0.00 [0] 0.00 [0] N 0.00
cut                                44     5.00      5.00      [10.00    ] 50.
"""  # noqa: E501


def test_text_dead_flag_overflowing_name_and_cut_row():
    cap = parse_powermetrics_text(TEXT_EDGE)
    (s,) = cap.samples
    tasks = by_pid(s)
    assert tasks[42].dead is True and tasks[42].idle_wakeups_per_s == 0.5
    assert tasks[43].name == "a very long process name that overflows"
    assert 44 not in tasks and any("line 8" in w for w in s.warnings)


def test_text_cut_member_row_is_not_taken_for_a_coalition_row():
    header = "Name                               ID     CPU ms/s  User%  Deadlines (<2 ms, 2-5 ms)  Wakeups (Intr, Pkg idle)  GPU ms/s"  # noqa: E501
    text = "\n".join(
        [
            header,
            "com.example                        9      20.00                                      5.00    1.00              0.00",  # noqa: E501
            "  worker                           100    20.00     50.00  1.00    0.00               5.00    1.00              0.00",  # noqa: E501
            "  cut                              101    20.00     50.00  1.00    0.00",
        ]
    )
    (s,) = parse_powermetrics_text(text).samples
    assert [c.name for c in s.coalitions] == ["com.example"]
    assert [t.pid for t in s.tasks] == [100]
    assert any("line 4" in w for w in s.warnings)


def test_text_that_is_not_powermetrics_is_a_clean_error():
    with pytest.raises(CaptureError) as err:
        parse_powermetrics_text("\nhello\n")
    assert err.value.line == 2


# --- text variants written here (tests/fixtures/powermetrics/README.md) -----------------------

OWN = Path(__file__).parent / "fixtures" / "powermetrics"
SHOW_ALL = OWN / "powermetrics_show-all_lifetime-then-sampled_macos10.12_CONSTRUCTED.txt"
SUMMARY_26 = OWN / "powermetrics_macos26_sampled-then-summary_CONSTRUCTED.txt"


def test_show_all_lifetime_block_then_sampled_block():
    cap = parse_powermetrics_text(SHOW_ALL.read_text())
    assert cap.machine["smc_version"] == "2.30f2" and cap.machine["os_version"] == "16G29"
    lifetime, sampled = cap.samples
    assert lifetime.kind == "lifetime" and lifetime.elapsed_s is None  # 0.00 ms: no interval
    assert sampled.kind == "sampled" and sampled.elapsed_s == pytest.approx(5.00321)
    assert not lifetime.warnings and not sampled.warnings
    assert sampled.system["package_power_watts"] == 9.21


def test_show_all_coalitions_are_not_processes_and_members_are():
    (_, s) = parse_powermetrics_text(SHOW_ALL.read_text()).samples
    assert [(c.id, c.name) for c in s.coalitions] == [
        (519, "com.apple.Safari"), (1, "kernel_coalition"), (301, "com.apple.Spotlight")
    ]  # fmt: skip
    assert sorted(t.pid for t in s.tasks) == [0, 512, 1742, 1801]
    safari = s.coalitions[0]
    assert [t.name for t in safari.tasks] == ["Safari", "com.apple.WebKit.WebContent"]
    # A coalition row leaves User% and Deadlines blank: the values after them are placed
    # under their own headers, not shifted left.
    assert (safari.cpu_ms_per_s, safari.intr_wakeups_per_s, safari.idle_wakeups_per_s) == (
        512.30, 610.20, 220.10
    )  # fmt: skip
    assert (safari.gpu_ms_per_s, safari.energy_impact) == (88.10, 60.12)
    assert s.all_tasks is not None and s.all_tasks.energy_impact == 92.32


def test_show_all_wide_columns_land_in_their_own_fields():
    (_, s) = parse_powermetrics_text(SHOW_ALL.read_text()).samples
    wc = by_pid(s)[1801]
    assert (wc.cpu_ms_per_s, wc.user_percent) == (400.0, 88.0)
    assert (wc.deadlines_short_per_s, wc.deadlines_medium_per_s) == (40.0, 2.0)
    assert (wc.intr_wakeups_per_s, wc.idle_wakeups_per_s) == (400.0, 130.0)
    assert (wc.gpu_ms_per_s, wc.energy_impact) == (48.0, 45.1)
    assert wc.qos_ms_per_s == {
        "default": 12.0, "maintenance": 0.0, "background": 0.0, "utility": 20.0,
        "legacy": 0.0, "user_initiated": 68.0, "user_interactive": 300.0,
    }  # fmt: skip
    # Columns whose header states no unit are kept as printed, under their own names.
    assert wc.extra == {"bytes_read": 80896.0, "bytes_written": 0.0, "pageins": 3.0,
                        "packets_in": 100.0, "packets_out": 80.0, "bytes_in": 150000.0,
                        "bytes_out": 18000.0}  # fmt: skip
    assert wc.pageins is None and wc.disk_read_bytes_per_s is None


def test_macos26_summary_after_a_sampled_block():
    cap = parse_powermetrics_text(SUMMARY_26.read_text())
    sampled, summary = cap.samples
    assert (sampled.kind, summary.kind) == ("sampled", "summary")
    assert summary.elapsed_s == pytest.approx(10.45815)
    tasks = by_pid(summary)
    assert sorted(tasks) == [0, 406, 7712, 8123, 9001]
    ws = tasks[406]
    # "[total]" follows samp ms/s and each Deadlines/s and Wakeups/s value: skipped.
    assert (ws.cpu_ms_per_s, ws.cpu_sample_ms_per_s, ws.user_percent) == (493.74, 493.96, 64.82)
    assert (ws.intr_wakeups_per_s, ws.idle_wakeups_per_s, ws.gpu_ms_per_s) == (
        656.62, 4.21, 12.5
    )  # fmt: skip
    assert tasks[8123].dead is True and ws.dead is False  # "Dead": exited in the period
    # Names longer than the Name column push the ID right.
    assert tasks[7712].name == "Microsoft Edge Helper (Renderer)"
    assert tasks[9001].name == "com.apple.WebKit.WebContent.Extra"
    assert summary.dead_tasks is not None and summary.dead_tasks.cpu_ms_per_s == 30.78
    assert summary.system["combined_power_watts"] == pytest.approx(4.831)
    assert by_pid(sampled)[8123].cpu_ms_per_s == 805.0
