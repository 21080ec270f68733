"""`lagwatch analyze` as a user runs it: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import json
import os

import pytest

from conftest import run_lagwatch
from lagwatch.model import PROCESS_KEYS

pytestmark = pytest.mark.integration  # runs the real CLI as a user does

TOP = """\
Processes: 2 total, 1 running, 1 sleeping, 10 threads
2026/01/02 03:04:05
PhysMem: 15G used (2105M wired, 1578M compressor), 1024M unused.

PID   COMMAND          %CPU TIME     MEM    POWER
10    Google Chrome He 0.0  00:10.00 100M   0.0
11    idle             0.0  00:01.00 1M     0.0

Processes: 2 total, 1 running, 1 sleeping, 10 threads
2026/01/02 03:04:06
PhysMem: 15G used (2105M wired, 1578M compressor), 1024M unused.

PID   COMMAND          %CPU TIME     MEM    POWER
10    Google Chrome He 80.0 00:10.80 120M   90.0
11    idle             0.0  00:01.00 1M     0.0
"""


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    err = result.stderr.strip()
    assert "\n" not in err and "Traceback" not in err and err.startswith("lagwatch")
    for needle in needles:
        assert needle in err


def test_json_lines_one_object_per_sample(tmp_path):
    path = write(tmp_path, "top.txt", TOP)
    result = run_lagwatch("analyze", "--json", str(path))
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == 2
    first, second = objects
    assert first["sources"] == ["top"] and first["capture"]["kind"] == "first-block"
    assert first["interval_s"] is None  # top measured nothing in its first block
    assert second["interval_s"] == 1.0 and second["capture"]["sample"] == 2
    assert second["capture"]["line"] == 9 and second["capture"]["file"] == str(path)
    chrome = second["processes"][0]
    assert (chrome["pid"], chrome["name"], chrome["cpu_percent"]) == (10, "Google Chrome He", 80.0)
    assert chrome["energy_impact"] == 90.0 and second["energy_source"] == "top-power"
    for obj in objects:
        for proc in obj["processes"]:
            assert tuple(proc) == PROCESS_KEYS


def test_limit_and_several_files(tmp_path):
    a = write(tmp_path, "a.txt", TOP)
    b = write(tmp_path, "b.txt", TOP)
    result = run_lagwatch("analyze", "--json", "--limit", "1", str(a), str(b))
    assert result.returncode == 0
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["capture"]["file"] for o in objects] == [str(a), str(a), str(b), str(b)]
    assert all(len(o["processes"]) == 1 and o["process_count"] == 2 for o in objects)


def test_table_output(tmp_path, macos_fixtures):
    path = macos_fixtures / "powermetrics" / "binsquare_mac16-6_macos15.5_text_default.txt"
    result = run_lagwatch("analyze", "--limit", "3", str(path), env={"COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "powermetrics-text sample 1" in out and "plugin-contain" in out  # (cut by the table)
    assert "system power: CPU 0.95 W" in out and "PID" in out


def test_stdin(tmp_path):
    result = run_lagwatch("analyze", "--json", "-", input=TOP)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2


def test_not_a_capture(tmp_path):
    path = write(tmp_path, "notes.txt", "\nmy mac is slow\nhelp\n")
    one_line_error(run_lagwatch("analyze", str(path)), f"{path}:2:", "not a capture")


def test_cut_before_any_sample(tmp_path):
    path = write(tmp_path, "cut.txt", TOP.split("\n\n")[0] + "\n")
    one_line_error(run_lagwatch("analyze", str(path)), f"{path}:3:", "no whole process row")


def test_forced_format_that_does_not_match(tmp_path):
    path = write(tmp_path, "top.txt", TOP)
    result = run_lagwatch("analyze", "--format", "powermetrics-plist", str(path))
    one_line_error(result, f"{path}:1:", "plist")


def test_bad_file_among_good_ones_prints_nothing_but_the_error(tmp_path):
    good = write(tmp_path, "good.txt", TOP)
    bad = write(tmp_path, "bad.bin", b"\x00\xff\xfe garbage")
    result = run_lagwatch("analyze", "--json", str(good), str(bad))
    one_line_error(result, str(bad))
    assert result.stdout == ""


def test_missing_file_and_bad_option(tmp_path):
    one_line_error(run_lagwatch("analyze", str(tmp_path / "nope.txt")), "No such file")
    result = run_lagwatch("analyze", "--format", "csv", "x")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_damage_is_reported_on_stderr_and_whole_rows_kept(tmp_path):
    cut = TOP[: TOP.rindex("11    idle") + 12]  # the last row cut mid-line
    path = write(tmp_path, "cut.txt", cut)
    result = run_lagwatch("analyze", "--json", str(path))
    assert result.returncode == 0
    last = json.loads(result.stdout.splitlines()[-1])
    assert [p["pid"] for p in last["processes"]] == [10]
    assert "line 15" in result.stderr and "cut short" in result.stderr


OWN = __import__("pathlib").Path(__file__).parent / "fixtures"
SHOW_ALL = (
    OWN / "powermetrics" / "powermetrics_show-all_lifetime-then-sampled_macos10.12_CONSTRUCTED.txt"
)


def test_non_ascii_names_cut_by_the_kernel_come_out_whole_characters():
    path = OWN / "top" / "top_l2_nonascii-commands_pid-suffixes.txt"
    result = run_lagwatch("analyze", "--json", str(path))
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    names = {p["pid"]: p["name"] for p in last["processes"]}
    assert names[2310] == "テキストエ" and names[1830] == "Café Brûlé Sy"
    assert names[2207] == "Steam Helper" and len(names) == 6
    table = run_lagwatch("analyze", "--limit", "6", str(path), env={"COLUMNS": "160"})
    assert table.returncode == 0 and "テキストエ" in table.stdout


def test_show_all_warnings_one_line_each_on_stderr():
    path = SHOW_ALL
    result = run_lagwatch("analyze", "--json", str(path))
    assert result.returncode == 0, result.stderr
    (ranking,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert ranking["capture"]["kind"] == "sampled" and ranking["process_count"] == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(ln.startswith(f"lagwatch: {path}: line ") for ln in lines)
    assert "Lifetime" in result.stderr


def test_lifetime_block_only_is_one_error_line(tmp_path):
    text = SHOW_ALL.read_text()
    path = write(tmp_path, "lifetime.txt", text[: text.index("*** Sampled")])
    one_line_error(run_lagwatch("analyze", str(path)), f"{path}:10:", "sampled interval")


# -- hostile input: sizes, special files, malformed values -----------------------------------


def test_special_files_are_refused_before_they_are_read(tmp_path):
    """/dev/zero never ends and a FIFO without a writer blocks forever: refused at once."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        result = run_lagwatch("analyze", path, timeout=30)
        one_line_error(result, path, "not a capture file", "lagwatch analyze - <")
    one_line_error(run_lagwatch("analyze", "/dev/zero", timeout=30), "character device")
    one_line_error(run_lagwatch("analyze", str(fifo), timeout=30), "FIFO")


def test_input_size_is_capped_while_reading(tmp_path):
    path = write(tmp_path, "top.txt", TOP)
    size = len(TOP.encode())
    ok = run_lagwatch("analyze", "--json", "--max-bytes", str(size), str(path))
    assert ok.returncode == 0, ok.stderr
    over = run_lagwatch("analyze", "--max-bytes", str(size - 1), str(path))
    one_line_error(over, str(path), f"larger than {size - 1} bytes", "--max-bytes")
    # Standard input has no size to look at: the cap holds while reading (not slurped whole).
    piped = run_lagwatch("analyze", "--max-bytes", "1K", "-", input="x" * 5000)
    one_line_error(piped, "standard input", "larger than 1024 bytes")
    for bad in ("12Q", "0", "-5", "2T"):
        result = run_lagwatch("analyze", "--max-bytes", bad, str(path))
        assert result.returncode == 2 and "Traceback" not in result.stderr, bad
        assert len(result.stderr.strip().splitlines()) == 1 and "--max-bytes" in result.stderr


def _pm_plist(tasks: str, cpu_power: str = "800") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict>'
        "<key>elapsed_ns</key><integer>1000000000</integer><key>tasks</key><array>"
        f"{tasks}</array><key>processor</key><dict><key>cpu_power</key>"
        f"<integer>{cpu_power}</integer></dict></dict></plist>\n"
    )


PM_TEXT = """\
*** Sampled system activity (Mon Oct 23 16:51:12 2023 +0200) (1012.07ms elapsed) ***

*** Running tasks ***

Name                               ID     CPU ms/s  User%  Deadlines (<2 ms, 2-5 ms)  Wakeups (Intr, Pkg idle)  GPU ms/s  Energy Impact
com.apple.Terminal                 293    447.66                                      274.83  120.35            221.74    12.00
firefox                            84627  77.59     55.55  15.37   2.59               91.42   42.12             204.47    9.00
ALL_TASKS                          -2     1222.65   65.70  1161.97 15.81              2875.29 132.40            0.00      30.00
"""  # noqa: E501


TASK = ("<dict><key>pid</key><integer>{pid}</integer><key>name</key><string>t{pid}</string>"
        "<key>cputime_ms_per_s</key><real>{cpu}</real></dict>")  # fmt: skip


@pytest.mark.parametrize(
    "capture",
    [
        # A 1000-deep <array> (was a RecursionError), after a readable sample.
        _pm_plist(TASK.format(pid=1, cpu=10.0)) + "\0" + _pm_plist("<array>" * 1000),
        # A task ID "--2" (was a ValueError).
        PM_TEXT.replace(" 293 ", " --2 "),
        # A 400-digit MEM (was an OverflowError).
        TOP.replace("100M ", "9" * 400 + "M "),
        # 400-digit numbers in a plist (the processor's was an OverflowError).
        _pm_plist(TASK.format(pid=1, cpu=10.0) + TASK.format(pid=2, cpu="9" * 400), "9" * 400),
    ],
    ids=["deep-array", "minus-minus-pid", "huge-mem", "huge-plist-number"],
)
def test_malformed_values_are_warnings_or_one_line_errors(tmp_path, capture):
    path = write(tmp_path, "capture", capture)
    result = run_lagwatch("analyze", "--json", str(path))
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.returncode in (0, 2), result.stderr
    for line in result.stderr.splitlines():
        assert line.startswith("lagwatch"), line
    if result.returncode == 0:
        for line in result.stdout.splitlines():
            json.loads(line)


def test_a_flood_of_warnings_is_cut_short(tmp_path):
    junk = "<plist><dict><key>x</key>" * 1000  # a thousand broken documents
    path = write(tmp_path, "pm.plist", _pm_plist(TASK.format(pid=1, cpu=10.0)) + junk)
    result = run_lagwatch("analyze", "--json", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 101 and lines[-1].endswith("more warnings not shown")
