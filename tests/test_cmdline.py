"""The process, not just its name: `cmdline` read by the sources (once per process), kept
once per process in history, and in every output of the JSON contract."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_lagwatch
from lagwatch.model import CMDLINE_MAX_CHARS, PROCESS_KEYS, ProcessRow, Ranking, join_cmdline
from lagwatch.store import History, Recorder
from lagwatch.store.retention import thin
from lagwatch.store.schema import CMDLINE_REFRESH_S, EXTRA_PROCESS_KEYS

linux = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")


def test_join_is_bounded_and_keeps_undecodable_bytes_visible() -> None:
    assert join_cmdline([b"python3", b"-m", b"http.server"]) == "python3 -m http.server"
    assert join_cmdline([]) is None and join_cmdline([b""]) is None
    assert join_cmdline([b"x\xff"]) == "x\\xff"  # text SQLite and JSON take as it is
    assert len(join_cmdline(["a" * 10_000]) or "") == CMDLINE_MAX_CHARS
    assert PROCESS_KEYS[-1] == "cmdline"  # added at the end: the contract only grows


def sample_of(source, pid: int, until=lambda s: True, timeout: float = 20.0):
    """The source's sample of ``pid`` once ``until`` holds (each read is a real reading)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [s for s in source.read().processes if s.pid == pid]
        if found and until(found[0]):
            return found[0]
    raise AssertionError(f"pid {pid}: no matching sample within {timeout}s")


@linux
def test_procfs_reads_the_command_line_once_and_again_after_an_exec() -> None:
    from lagwatch.sources.procfs import ProcfsSource

    script = "read line; exec sleep 31"
    child = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE)
    source = ProcfsSource()
    try:
        before = sample_of(source, child.pid)
        assert before.cmdline == f"sh -c {script}"
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.flush()
        after = sample_of(source, child.pid, until=lambda s: s.name == "sleep")
        assert after.cmdline == "sleep 31" and after.start_id == before.start_id
        kthreadd = [s for s in source.read().processes if s.pid == 2]
        assert not kthreadd or kthreadd[0].cmdline is None  # a kernel thread has no argv
    finally:
        source.close()
        child.kill()
        child.wait()


@linux
def test_hostile_arguments_are_kept_and_escaped_where_printed() -> None:
    from lagwatch.sources.procfs import ProcfsSource

    # argv[0] "python", not the interpreter's path: the line printed at 200 columns must not
    # depend on where the checkout lives (a longer path pushed "zzz" past the cut).
    child = subprocess.Popen(
        ["python", "-c", "import time; time.sleep(30)", b"\xff\x1b]0;pwn\x07", "z" * 9000],
        executable=sys.executable,
    )
    source = ProcfsSource()
    try:
        cmd = sample_of(source, child.pid).cmdline
        assert cmd is not None and len(cmd) == CMDLINE_MAX_CHARS
        assert "\\xff\x1b]0;pwn\x07" in cmd  # as read; lagwatch.sanitize escapes it in print
        res = run_lagwatch("top", "--count", "1", "--interval", "0.2", "--wide", "--pid",
                           str(child.pid), env={"COLUMNS": "200"})  # fmt: skip
        assert "\x1b]0;pwn" not in res.stdout and "\x07" not in res.stdout
        assert "import time; time.sleep(30) \\xff\\x1b]0;pwn\\x07 zzz" in res.stdout
    finally:
        source.close()
        child.kill()
        child.wait()


def test_psutil_source_reads_command_lines() -> None:
    from lagwatch.sources.psutil_source import PsutilSource

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "lw-psutil"])
    try:
        sample = sample_of(PsutilSource(), child.pid)
        assert sample.cmdline is not None and sample.cmdline.endswith("lw-psutil")
    finally:
        child.kill()
        child.wait()


def row(pid: int, cmdline: str | None, start_id: int = 7) -> ProcessRow:
    return ProcessRow(pid=pid, ppid=1, name=f"p{pid}", user="u", state="running",
                      restricted=pid == 2, memory_bytes=1 << 20, threads=1, cpu_percent=50.0,
                      score=60.0, dominant="cpu", cmdline=cmdline, start_id=start_id)  # fmt: skip


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    db = tmp_path / "h.db"
    rec = Recorder(db)
    t0 = time.time() - 100
    for k in range(20):
        cmd = "python worker.py" if k < 10 else "python worker.py --phase 2"  # an exec
        rows = [row(1, cmd), row(2, "db --serve"), row(3, None)]
        rec.record(Ranking(t0 + k, 1.0, "linux", ["procfs"], rows, {"cpu_count": 2}))
    rec.close()
    return db


def test_history_keeps_one_command_line_per_process(recorded: Path) -> None:
    conn = sqlite3.connect(recorded)
    stored = conn.execute("SELECT pid, cmdline FROM cmdlines ORDER BY pid").fetchall()
    extras = [json.loads(e) for (e,) in conn.execute("SELECT extra FROM procs") if e]
    conn.close()
    assert stored == [(1, "python worker.py --phase 2"), (2, "db --serve")]  # not per tick
    assert "cmdline" not in EXTRA_PROCESS_KEYS and all("cmdline" not in e for e in extras)
    with History(recorded) as history:
        rankings = list(history.rankings())
    assert len(rankings) == 20
    assert {r.pid: r.cmdline for r in rankings[0].processes} == {
        1: "python worker.py --phase 2", 2: "db --serve", 3: None,
    }  # fmt: skip


def test_history_json_and_csv_carry_it(recorded: Path) -> None:
    res = run_lagwatch("history", "--db", str(recorded), "--format", "json", "--pid", "2")
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(docs) == 20 and docs[0]["processes"][0]["cmdline"] == "db --serve"
    res = run_lagwatch("history", "--db", str(recorded), "--format", "csv", "--pid", "2",
                       "--pid", "3")  # fmt: skip
    records = list(csv.DictReader(io.StringIO(res.stdout)))
    assert records[0]["cmdline"] == "db --serve" and records[1]["cmdline"] == ""
    assert {r["restricted"] for r in records} == {"true", "false"}  # JSON's words, not Python's


def test_an_older_history_is_upgraded_and_reads_without_command_lines(recorded: Path) -> None:
    conn = sqlite3.connect(recorded)
    conn.execute("DROP TABLE cmdlines")  # as v3 was: no command lines, no machine figures
    conn.execute("ALTER TABLE ticks DROP COLUMN machine")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with History(recorded) as history:  # migrates to the current version, keeping every row
        rows = [r for rk in history.rankings() for r in rk.processes]
    assert len(rows) == 60 and all(r.cmdline is None for r in rows)


def test_retention_forgets_command_lines_no_kept_row_needs(recorded: Path) -> None:
    conn = sqlite3.connect(recorded)
    conn.execute("UPDATE cmdlines SET seen = seen - ? WHERE pid = 1", (3 * CMDLINE_REFRESH_S,))
    conn.commit()
    counts = thin(conn, time.time())
    left = conn.execute("SELECT pid FROM cmdlines").fetchall()
    conn.close()
    assert counts["cmdlines_deleted"] == 1 and left == [(2,)]
