"""`top -l` output read the way Apple's top writes it (tests/fixtures/top/README.md says which
top source file each quirk comes from): columns padded by bytes, COMMAND cut at 16 bytes, PID
suffixes, and delta mode (`top -d`, as in sysdiagnose's top.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lagwatch.captures.analyze import analyze
from lagwatch.parsers.top import parse_pid, parse_row, parse_top
from lagwatch.parsers.top_convert import TopConverter

FIXTURES = Path(__file__).parent / "fixtures" / "top"
NONASCII = FIXTURES / "top_l2_nonascii-commands_pid-suffixes.txt"
ROSETTA = FIXTURES / "top_l2_x86_64-top-under-rosetta.txt"
DELTA = FIXTURES / "top_l3_d_delta-mode.txt"
K, M = 1 << 10, 1 << 20


def rows_by_pid(block):
    return {r.pid: r for r in block.rows}


# --- bytes, not characters ------------------------------------------------------------------------


def test_non_ascii_commands_do_not_shift_the_columns_after_them():
    cap = parse_top(NONASCII.read_bytes())
    assert [len(b.rows) for b in cap.blocks] == [6, 6] and not cap.warnings
    for block in cap.blocks:
        assert not block.warnings
    rows = rows_by_pid(cap.blocks[1])
    # Every cell after COMMAND is read whole: a character-based slice would cut "%CPU" short
    # by the name's extra bytes (8 for the Japanese name) and lose the row.
    jp = rows[2310]
    assert (jp.cpu_percent, jp.time_ns, jp.threads, jp.memory_bytes) == (
        2.1, 3_140_000_000, 6, 88 * M
    )  # fmt: skip
    assert (jp.get("PPID"), jp.state, jp.get("IDLEW"), jp.power) == (1, "sleeping", 124, 2.3)
    cafe = rows[1830]
    assert (cafe.cpu_percent, cafe.memory_bytes, cafe.get("IDLEW")) == (0.4, 21 * M, 312)


def test_command_cut_at_16_bytes_inside_a_character_drops_that_character():
    rows = rows_by_pid(parse_top(NONASCII.read_bytes()).blocks[0])
    # 16 bytes = 5 katakana (15 bytes) + the first byte of the 6th: that byte is dropped.
    assert rows[2310].command == "テキストエ" and rows[2310].command_cut
    # 15 characters, 17 bytes: cut at 16 bytes on a character boundary. By length in
    # characters (13) it would look whole.
    assert rows[1830].command == "Café Brûlé Sy" and rows[1830].command_cut
    assert rows[733].command == "Übersicht" and not rows[733].command_cut
    assert rows[412].command == "WindowServer" and not rows[412].command_cut
    assert all("\ufffd" not in r.command for r in rows.values())


def test_text_decoded_with_surrogateescape_is_sliced_like_bytes():
    text = NONASCII.read_bytes().decode("utf-8", "surrogateescape")
    assert parse_top(text).blocks[0].rows[0].command == "テキストエ"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("412*", (412, "*")), ("88-", (88, "-")), ("0 ", (0, None)), ("733", (733, None)),
     ("19+", (19, "+"))],
)  # fmt: skip
def test_pid_suffixes(cell, expected):
    pid, suffix = parse_pid(cell)
    assert (pid, suffix if suffix != " " else None) == expected


def test_pid_suffix_star_keeps_the_row_and_is_recorded():
    rows = rows_by_pid(parse_top(NONASCII.read_bytes()).blocks[1])
    steam = rows[2207]
    assert steam.pid_suffix == "*" and steam.command == "Steam Helper"
    assert (steam.cpu_percent, steam.power, steam.threads_running) == (35.2, 37.7, 2)
    assert rows[412].pid_suffix is None  # native: a space, indistinguishable from padding


def test_capture_of_an_x86_64_top_under_rosetta_reads_every_row():
    cap = parse_top(ROSETTA.read_bytes())
    second = cap.blocks[1]
    assert len(second.rows) == 5 and not second.warnings
    suffixes = {r.pid: r.pid_suffix for r in second.rows}
    assert suffixes == {5120: None, 4401: None, 412: "*", 1: "*", 0: "*"}
    a = analyze(ROSETTA.read_bytes())
    rows = {r.pid: r for r in a.rankings[1].ranking.processes}
    assert rows[412].cpu_percent == 30.1 and rows[412].energy_impact == 33.0
    assert a.rankings[1].ranking.processes[0].name == "Rosetta Game"


def test_thirty_two_bit_process_suffix_on_a_64_bit_host():
    # Intel Mac before 10.15: a 32-bit process gets "-" (pid.c), not a changed-value mark.
    row, why = parse_row("77-   iTunesHelper 1.5  12M ", ["PID", "COMMAND", "%CPU", "MEM"],
                         [0, 6, 19, 24])  # fmt: skip
    assert why is None and row is not None
    assert (row.pid, row.pid_suffix, row.cpu_percent, row.memory_bytes) == (77, "-", 1.5, 12 * M)


def test_analyze_keeps_the_non_ascii_rows_with_their_figures():
    a = analyze(NONASCII.read_bytes())
    assert not a.warnings
    rows = {r.pid: r for r in a.rankings[1].ranking.processes}
    assert rows[2310].name == "テキストエ" and rows[2310].cpu_percent == 2.1
    assert rows[412].energy_impact == 52.3 and rows[412].memory_bytes == 900 * M


# --- delta mode ---------------------------------------------------------------------------------


def test_delta_mode_values_are_read_signed_and_no_row_is_dropped():
    cap = parse_top(DELTA.read_bytes())
    assert [len(b.rows) for b in cap.blocks] == [3, 4, 4]
    assert all(not b.warnings for b in cap.blocks)
    mds = rows_by_pid(cap.blocks[1])[5301]
    assert (mds.memory_bytes, mds.get("#PORTS"), mds.get("#TH")) == (-16 * K, -3, (2, 1))
    ws = rows_by_pid(cap.blocks[2])[412]
    assert (ws.memory_bytes, ws.get("#PORTS"), ws.get("#TH")) == (-2048 * K, -4, (1, 1))
    assert rows_by_pid(cap.blocks[2])[5301].get("#TH") == (-2, -1)


def test_delta_mode_gauges_are_null_from_the_second_sample_rates_stay():
    cap = parse_top(DELTA.read_bytes())
    conv = TopConverter()
    first, second, third = (conv.convert(b) for b in cap.blocks)
    # The first sample shows whole values: real footprints and thread counts.
    s1 = {s.pid: s for s in first.samples}
    assert (s1[412].memory_bytes, s1[412].threads) == (903 * M, 22)
    assert s1[412].rates is None  # top measured nothing yet
    assert second.delta_mode and third.delta_mode
    for conv_ in (second, third):
        assert all(s.memory_bytes is None and s.threads is None for s in conv_.samples)
    s2 = {s.pid: s for s in second.samples}
    assert second.interval_s == pytest.approx(0.9916, abs=1e-3)  # CPU time / %CPU
    ws = s2[412].rates
    assert (ws["cpu_percent"], ws["energy_impact"]) == (44.0, 54.5)
    assert ws["ctx_switches_per_s"] == pytest.approx(9120 / second.interval_s)
    assert ws["wakeups_per_s"] == pytest.approx(210 / second.interval_s)
    assert ws["pageins_per_s"] == 0.0
    # spinner started between samples 1 and 2: top shows its lifetime counts and 0.0 %CPU.
    assert s2[6011].rates is None
    s3 = {s.pid: s for s in third.samples}
    assert s3[6011].rates["cpu_percent"] == 99.1
    assert s3[6011].rates["ctx_switches_per_s"] == pytest.approx(12 / third.interval_s)


def test_delta_mode_capture_analyzed_with_one_warning():
    a = analyze(DELTA.read_bytes())
    assert len(a.rankings) == 3
    delta_warnings = [w for w in a.warnings if "delta mode" in w]
    assert len(delta_warnings) == 1 and "\n" not in delta_warnings[0]
    rows = {r.pid: r for r in a.rankings[2].ranking.processes}
    assert set(rows) == {6011, 5301, 412, 88}
    assert rows[412].memory_bytes is None and rows[412].threads is None
    assert rows[412].cpu_percent == 41.0 and rows[412].energy_impact == 51.1
    assert a.rankings[2].ranking.processes[0].pid == 6011  # 99 % CPU: the culprit
    assert rows[6011].dominant == "cpu"
    first = {r.pid: r for r in a.rankings[0].ranking.processes}
    assert first[412].memory_bytes == 903 * M


def test_a_process_top_samples_for_the_first_time_has_no_cpu_figure():
    """cpu.c/power.c print 0.0 when p_seq == 0; that is no measurement (outside delta mode
    too), when the previous block listed every process."""
    text = NONASCII.read_bytes()
    head, _, rest = text.partition(b"\n0     kernel_task")
    # Drop kernel_task from the first block: it is "new" in the second.
    first_end = rest.index(b"\n") + 1
    text = head + b"\n" + rest[first_end:]
    text = text.replace(b"Processes: 6 total", b"Processes: 5 total", 1)
    a = analyze(text)
    rows = {r.pid: r for r in a.rankings[1].ranking.processes}
    assert rows[0].cpu_percent is None and rows[412].cpu_percent == 45.0
