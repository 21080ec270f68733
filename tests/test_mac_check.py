"""bench/mac_check.py, the check a maintainer runs on a real Mac: its pure parts, that it says
"not macOS" here and runs nothing, and its plumbing end to end in the Mac-in-a-box (where what
it reports is the fakes' behaviour, not a Mac's)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from conftest import REPO

SCRIPT = REPO / "bench" / "mac_check.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mac_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mac_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


mc = load()


# -- pure parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0:01.52", 1.52), ("123:04.50", 7384.5), ("1:02:03", 3723.0), ("2-00:00:01", 172801.0)],
)
def test_parse_ps_time(text: str, seconds: float) -> None:
    assert mc.parse_ps_time(text) == pytest.approx(seconds)


def test_cpu_agrees_within_ps_resolution_and_a_few_percent() -> None:
    assert mc.cpu_agrees(1.512, 1.50)
    assert mc.cpu_agrees(10.2, 10.0)  # 2 %
    assert not mc.cpu_agrees(1.5, 1.5 * 41.67)  # the Rosetta timebase bug
    assert not mc.cpu_agrees(1.5, 1.3)


def test_written_length_finds_where_the_kernel_stopped_writing() -> None:
    buf = bytes([1] * 10 + [0] * 6 + [0xAA] * 16)  # trailing zero fields count as written
    assert mc.written_length(buf, 0xAA) == 16
    assert mc.written_length(bytes([0xAA] * 8), 0xAA) == 0


def test_marker_times_across_chunk_boundaries() -> None:
    chunks = [(0.1, b"Processes: 3\nx\nProc"), (1.2, b"esses: 3\n"), (2.3, b"Processes:")]
    assert mc.marker_times(chunks, b"Processes:") == [0.1, 1.2, 2.3]


def test_flush_verdict() -> None:
    assert mc.flush_verdict([0.03, 1.03, 2.04, 3.02], 1.0)[0] == "pass"
    status, text = mc.flush_verdict([4.0, 4.0, 4.01, 4.01], 1.0)
    assert status == "fail" and "together" in text
    assert mc.flush_verdict([1.0], 1.0)[0] == "fail"


def test_buffering_verdict() -> None:
    assert mc.buffering_verdict([], 4.0)[0] == "block"
    assert mc.buffering_verdict([(1.0, b"x" * 4096), (2.0, b"x" * 100)], 4.0)[0] == "block"
    assert mc.buffering_verdict([(0.1, b"a,b,\n"), (1.1, b"c,d,\n")], 4.0)[0] == "streams"


def test_nul_layout() -> None:
    doc = b'<?xml version="1.0"?>\n<plist><dict/></plist>\n'
    between = doc + b"\0" + doc + b"\0" + doc
    assert "one between documents, none after the last" in mc.nul_layout(between)
    after = doc + b"\0" + doc + b"\0"
    text = mc.nul_layout(after)
    assert "one after every document" in text and "ends in a NUL" in text
    assert mc.nul_layout(doc) == "no NUL byte in 1 document(s)"


def test_gpu_unit_verdict() -> None:
    assert mc.gpu_unit_verdict([(50.0, 48.0), (10.0, 10.5), (0.1, 0.0)])[0] == "pass"
    status, text = mc.gpu_unit_verdict([(50_000.0, 50.0), (9000.0, 10.0)])
    assert status == "fail" and "not ns" in text
    assert mc.gpu_unit_verdict([(1.0, 0.5)])[0] == "needs-eyes"  # too little GPU to tell


def test_cut_rows() -> None:
    lines = [",bytes_in,bytes_out,", "Safari.640,10,20,", "Code Helper (Re.77,1", "x" * 80]
    assert mc.cut_rows(lines, 80) == (3, 2)


def test_report_and_exit_status() -> None:
    results = [
        mc.result("a", "pass", "fine", ["saw 1"]),
        mc.result("b", "needs-eyes", "a figure", ["12 ms"]),
        mc.result("c", "skip", "needs root"),
    ]
    text = mc.format_report(results, ["head", mc.NOTICE])
    assert text.startswith("head\n" + mc.NOTICE)
    assert "[PASS] a: fine" in text and "    saw 1" in text and "[NEEDS-EYES] b" in text
    assert "Summary: 1 pass, 0 fail, 1 needs-eyes, 1 skip, 0 error" in text
    assert mc.exit_status(results) == 0
    assert mc.exit_status([*results, mc.result("d", "fail", "no")]) == 1
    with pytest.raises(ValueError):
        mc.result("e", "ok", "not a status")


def test_a_check_that_raises_is_an_error_not_a_crash() -> None:
    def broken(ctx: object) -> object:
        raise KeyError("AppUsage")

    res = mc.run_check("iokit-gpu", broken, None)
    assert res.status == "error" and res.summary == "KeyError: 'AppUsage'"
    assert res.saw[0].startswith("at test_mac_check.py:")
    assert mc.exit_status([res]) == 1


# -- the script itself -------------------------------------------------------------------------


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO,
    )  # fmt: skip


def test_not_macos_runs_nothing_and_exits_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAGWATCH_")}
    proc = script(env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"mac_check: not macOS ({sys.platform})")
    assert "nothing was run" in proc.stdout and proc.stderr == ""


def test_list_and_a_bad_only() -> None:
    assert script("--list").stdout.split() == list(mc.CHECKS)
    proc = script("--only", "top-parse,nope")
    assert proc.returncode == 2 and "unknown check 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX terminals")
def test_every_check_runs_in_the_mac_in_a_box(tmp_path: Path) -> None:
    """Its plumbing against the fakes, as a user would run it: nothing errs, and each verdict
    is the one the fakes' documented behaviour calls for."""
    from macbox import MacBox, build_libraries
    from test_macbox import ROOT, machine

    (tmp_path / "libs").mkdir()
    box = MacBox(tmp_path / "mac", build_libraries(tmp_path / "libs"), machine(), as_user=True)
    proc = script("--json", env=dict(os.environ, **box.env))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["header"][1] == mc.NOTICE
    statuses = {r["name"]: r["status"] for r in out["results"]}
    errors = {r["name"]: (r["summary"], r["saw"]) for r in out["results"] if r["status"] == "error"}
    assert not errors
    assert statuses == {
        "sources": "pass",
        "libproc-structs": "pass",
        "libproc-vs-ps": "skip",  # needs Apple's ps
        "top-parse": "pass",
        "top-flush": "pass",
        "top-cost": "needs-eyes",  # a figure for docs/metrics.md
        "restricted-from-top": "pass",
        "nettop-pty": "pass",
        "nettop-pipe": "pass",  # the fake block-buffers on a pipe, like nettop
        "nettop-restart": "pass",
        "powermetrics": "pass" if ROOT else "skip",
        "iokit-gpu": "needs-eyes",  # the fake powermetrics has no per-process GPU time
        "board-id": "pass",
        "memory-pressure": "pass",
    }
    saw = {r["name"]: "\n".join(r["saw"]) for r in out["results"]}
    assert "WindowServer (88): restricted True, cpu_percent 45.0" in saw["restricted-from-top"]
    assert "one between documents, none after the last" in saw["powermetrics"] or not ROOT
    assert "killed pid" in saw["nettop-restart"]
    assert "restarted (restart 1)" in saw["nettop-restart"]
