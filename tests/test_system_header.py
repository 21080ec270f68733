"""The system header of `top`: figures read from /proc (a fake one here, and the real one),
laid out in compact lines that fit the width, and nothing shown for what is not known."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from rich.text import Text

from fake_rankings import ranking, row
from lagwatch.model import LIVE_SYSTEM_KEYS
from lagwatch.render.header import cpu_lines, join_parts, system_header
from lagwatch.sources.procfs import ProcfsSource
from lagwatch.sources.system_linux import LinuxSystem, parse_cpu_times, parse_meminfo

STAT = """cpu  {u} 0 {s} {i} 0 0 0 0 0 0
cpu0 {u0} 0 0 {i0} 0 0 0 0 0 0
cpu1 {u1} 0 0 {i1} 5 0 0 0 0 0
intr 1 2 3
"""
MEMINFO = """MemTotal:       16000000 kB
MemFree:         1000000 kB
MemAvailable:    4000000 kB
SwapTotal:       2000000 kB
SwapFree:        1500000 kB
"""


def fake_proc(tmp_path: Path, u0: int, i0: int, u1: int, i1: int) -> Path:
    (tmp_path / "stat").write_text(
        STAT.format(u=u0 + u1, s=0, i=i0 + i1, u0=u0, i0=i0, u1=u1, i1=i1)
    )
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "loadavg").write_text("1.50 0.75 0.25 2/300 4242\n")
    return tmp_path


def test_cpu_per_core_is_the_busy_share_between_two_readings(tmp_path: Path) -> None:
    system = LinuxSystem(str(fake_proc(tmp_path, 100, 100, 100, 100)))
    first = system.read()
    assert "cpu_busy_percent_per_core" not in first  # one reading is no interval: unknown
    assert first["memory_used_bytes"] == 12_000_000 * 1024
    assert first["swap_used_bytes"] == 500_000 * 1024
    assert (first["load_avg_1m"], first["load_avg_15m"]) == (1.5, 0.25)
    fake_proc(tmp_path, 175, 125, 100, 200)  # core 0: 75 of 100 busy; core 1: idle
    second = system.read()
    assert second["cpu_busy_percent_per_core"] == [75.0, 0.0]
    assert second["cpu_busy_percent"] == 37.5
    assert set(second) <= LIVE_SYSTEM_KEYS  # never stored as a context (one per tick)


def test_parsers_take_only_what_they_know() -> None:
    times = parse_cpu_times("cpu 1 2 3 4 5 6 7 8 9 10\ncpu3 1 0 0 9 0 0 0 0\nctxt 5\n")
    assert times == {"cpu": (1 + 2 + 3 + 6 + 7 + 8, 36), "cpu3": (1, 10)}
    assert parse_meminfo("MemTotal: 10 kB\n") == {}  # no MemAvailable: used is unknown


def test_missing_files_leave_figures_out(tmp_path: Path) -> None:
    assert LinuxSystem(str(tmp_path)).read() == {}


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc")
def test_procfs_reports_the_header_figures_of_this_machine() -> None:
    source = ProcfsSource()
    try:
        source.read()
        deadline = time.monotonic() + 20
        system = source.read().system
        # Two readings within one clock tick (10 ms) have no interval: unknown, read again.
        while "cpu_busy_percent_per_core" not in system and time.monotonic() < deadline:
            system = source.read().system
    finally:
        source.close()
    cores = system["cpu_busy_percent_per_core"]
    assert len(cores) == system["cpu_count"] and all(0 <= p <= 100 for p in cores)
    assert 0 < system["memory_used_bytes"] < system["memory_total_bytes"]
    assert system["load_avg_1m"] >= 0


FULL = {
    "memory_total_bytes": 16 * 2**30, "cpu_count": 4,
    "cpu_busy_percent_per_core": [95.0, 50.0, 5.0, 0.0], "cpu_busy_percent": 37.5,
    "memory_used_bytes": 12 * 2**30, "swap_total_bytes": 2 * 2**30, "swap_used_bytes": 2**29,
    "load_avg_1m": 3.25, "load_avg_5m": 2.0, "load_avg_15m": 1.0,
    "pressure": {"cpu": {"some_percent": 12.4}, "memory": {"some_percent": 0.0},
                 "io": {"some_percent": None, "some_avg10_percent": 3.0}},
}  # fmt: skip


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_header_lines_fit_and_say_every_figure(width: int) -> None:
    rk = ranking([row(1, 1.0), row(2, 1.0, restricted=True)], system=FULL)
    lines = system_header(rk, width, hidden_kernel=7, is_root=False)
    text = "\n".join(line.plain for line in lines)
    assert all(line.cell_len <= width for line in lines), text
    for needle in ("CPU  38%", "MEM 12.0G/16.0G 75%", "SWAP 512M/2.0G 25%", "LOAD 3.25 2.00 1.00",
                   "PSI cpu 12% mem 0% io 3%", "2 processes", "1 restricted *",
                   "7 kernel threads hidden", "procfs every 1.0s"):  # fmt: skip
        assert needle in " ".join(text.split("\n")), (needle, text)


def test_header_says_nothing_it_does_not_know() -> None:
    rk = ranking([row(1, 1.0)], system={"memory_total_bytes": 2**30, "cpu_count": 2})
    text = "\n".join(line.plain for line in system_header(rk, 80))
    assert "CPU" not in text and "MEM" not in text and "SWAP" not in text and "PSI" not in text
    assert "restricted" not in text and "hidden" not in text


def test_many_cores_become_one_block_each_on_as_many_lines_as_needed() -> None:
    cores = [float(n % 101) for n in range(128)]
    lines = cpu_lines({"cpu_busy_percent_per_core": cores, "cpu_busy_percent": 50.0}, 80)
    assert len(lines) == 2 and all(line.cell_len <= 80 for line in lines)
    blocks = "".join(line.plain[9:] for line in lines)
    assert len(blocks) == 128 and blocks[0] == " " and blocks[100] == "█"
    few = cpu_lines({"cpu_busy_percent_per_core": [100.0, 0.0]}, 80)[0].plain
    assert few.startswith("CPU ") and "██████████" in few  # a full bar for the busy core


def test_live_figures_never_add_a_stored_context_per_tick(tmp_path: Path) -> None:
    import sqlite3

    from lagwatch.store import Recorder

    rec = Recorder(tmp_path / "h.db")
    for k in range(5):
        system = {**FULL, "cpu_busy_percent": float(k), "load_avg_1m": k / 10,
                  "pressure": {"cpu": {"some_percent": float(k)}},
                  # RAPL's running counter, and what macOS sources give at every reading:
                  # top's header counters, powermetrics' watts, libproc's restricted count.
                  "rapl_energy_uj": 1000 * k, "rapl_time_ns": k, "rapl_zones": ["package-0"],
                  "physmem_used_bytes": k << 20, "net_packets_in": k, "disk_reads": k,
                  "package_power_watts": k / 3, "restricted_processes": k,
                  "sweep_mode": "kept"}  # fmt: skip
        rec.record(ranking([row(1, 1.0)], time=1e9 + k, system=system))
    rec.close()
    conn = sqlite3.connect(tmp_path / "h.db")
    contexts = conn.execute("SELECT system FROM contexts").fetchall()
    conn.close()
    assert len(contexts) == 1 and "load_avg_1m" not in contexts[0][0]
    facts = json.loads(contexts[0][0])  # the machine's facts are kept, nothing of the moment
    assert facts == {"cpu_count": 4, "memory_total_bytes": FULL["memory_total_bytes"],
                     "rapl_zones": ["package-0"], "sweep_mode": "kept"}  # fmt: skip


@pytest.mark.parametrize("width", [40, 60, 100])
def test_a_status_line_breaks_between_its_parts_never_inside_one(width: int) -> None:
    # The TUI's status line: the filter part must stay whole whatever the counts before it.
    parts = ["sources: procfs, tcp-diag, psi", "69 procs", "1 restricted", "sort: score",
             "filter: '300.4711' (1)", "57 kernel threads hidden (K)"]  # fmt: skip
    lines = [line.plain for line in join_parts([Text(p) for p in parts], width, sep=" | ")]
    assert all(len(line) <= width for line in lines)
    assert [p for line in lines for p in line.split(" | ")] == parts
